package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// TestBalanceAndEntriesByPool: balance shows every pool after the
// default one (and dated lots), entries -pool lists one pool, and the
// JSON forms carry pools, features and quantities.
func TestBalanceAndEntriesByPool(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.db")
	store := testdb.Open(t, path)
	catalog := policy.ReferenceCatalog()
	catalog.Features = []policy.Feature{{ID: "image_hd", Pool: "image", Price: decimal.RequireFromString("2.5")}}
	l, err := ledger.New(store, &ledger.Config{Catalog: catalog})
	require.NoError(t, err)
	ctx := t.Context()
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "dana", IdempotencyKey: "g1", Amount: decimal.NewFromInt(10)})
	require.NoError(t, err)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "dana", IdempotencyKey: "g2", Pool: "image", Amount: decimal.NewFromInt(20)})
	require.NoError(t, err)
	start := time.Now().Add(48 * time.Hour)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "dana", IdempotencyKey: "g3", Amount: decimal.NewFromInt(7), EffectiveAt: &start})
	require.NoError(t, err)
	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "dana", Feature: "image_hd", Quantity: decimal.NewFromInt(3)})
	require.NoError(t, err)

	r := runCmd(t, "balance", "-db", path, "dana")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "account dana: 10 available")
	require.Contains(t, r.stdout, "pool image: 12 available")
	require.Contains(t, r.stdout, "(from ")

	r = runCmd(t, "balance", "-db", path, "-json", "dana")
	require.Equal(t, exitOK, r.code, r.stderr)
	var bal balanceJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &bal))
	require.Equal(t, "10", bal.Available)
	require.Len(t, bal.Upcoming, 1)
	require.Equal(t, "12", bal.Pools["image"].Available)

	r = runCmd(t, "entries", "-db", path, "-json", "-pool", "image", "dana")
	require.Equal(t, exitOK, r.code, r.stderr)
	var page struct {
		Entries []entryJSON `json:"entries"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	require.Len(t, page.Entries, 2)
	require.Equal(t, "image", page.Entries[0].Pool)
	require.Equal(t, "image_hd", page.Entries[0].Feature)
	require.Equal(t, "3", page.Entries[0].Quantity)
	require.Equal(t, "-8", page.Entries[0].Amount)

	r = runCmd(t, "entries", "-db", path, "-pool", "", "dana")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotContains(t, r.stdout, "image")
	r = runCmd(t, "entries", "-db", path, "dana")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "POOL")
	require.Contains(t, r.stdout, "image_hd x 3")

	// A one-pool account prints as before pools.
	r = runCmd(t, "balance", "-db", seeded(t), "-json", "alice")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotContains(t, r.stdout, "pools")
	require.NotContains(t, r.stdout, "upcoming")
}
