package storage_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// TestEntryHashKeepsOldHashes: an entry without the fields of schema 6
// (pool, feature, quantity, effective_at) hashes exactly as before they
// existed (the hex values were computed by the v0.2 EntryHash), and each
// of those fields, once set, changes the hash.
func TestEntryHashKeepsOldHashes(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 10, 12, 0, 0, 123456789, time.UTC)
	exp := at.Add(time.Hour)
	grant := storage.Entry{ID: "e1", Account: "u", Seq: 1, OperationID: "op1", LotID: "lot1", Kind: storage.KindGrant, Amount: 100,
		BalanceAfter: 100, Source: "s", Description: "d", Metadata: map[string]string{"b": "2", "a": "1"}, CreatedAt: at,
		ExpiresAt: &exp, Key: "k", ParamHash: "ph", Available: 100}
	release := storage.Entry{ID: "e2", Account: "u", Seq: 2, OperationID: "op2", LotID: "lot1", Kind: storage.KindRelease, Amount: 5,
		BalanceAfter: 105, CreatedAt: at, Ref: "hold-1"}
	prev := []byte("prev")
	require.Equal(t, "3f700c5e10f3a631eb227fffe70f5411594df96a19b3ebc9093e77f7a66675f7", hex.EncodeToString(storage.EntryHash(prev, &grant)))
	require.Equal(t, "83aee1a69c0bc81272162d542e0091b0461c454fe6dc4739f37c045d9a49b3ff", hex.EncodeToString(storage.EntryHash(prev, &release)))

	seen := map[string]string{hex.EncodeToString(storage.EntryHash(prev, &grant)): "none"}
	start := at.Add(time.Minute)
	for name, set := range map[string]func(e *storage.Entry){
		"pool":         func(e *storage.Entry) { e.Pool = "image" },
		"feature":      func(e *storage.Entry) { e.Feature = "image" },
		"quantity":     func(e *storage.Entry) { e.Quantity = "image" },
		"effective_at": func(e *storage.Entry) { e.EffectiveAt = &start },
		"ref and pool": func(e *storage.Entry) { e.Ref, e.Pool = "image", "image" },
	} {
		e := grant
		set(&e)
		h := hex.EncodeToString(storage.EntryHash(prev, &e))
		require.NotContains(t, seen, h, "%s hashes like %s", name, seen[h])
		seen[h] = name
	}
}
