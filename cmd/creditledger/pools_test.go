package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// featureCatalog writes the reference catalog with one feature priced
// 2.5 credits of the "image" pool, and returns its path.
func featureCatalog(t *testing.T) string {
	t.Helper()
	r := runCmd(t, "catalog")
	require.Equal(t, exitOK, r.code, r.stderr)
	var c map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &c))
	c["features"] = []map[string]string{{"id": "image_hd", "pool": "image", "price": "2.5"}}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "catalog.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// TestWritesInPools grants into a pool (now and dated), consumes by
// feature and by pool, and changes a lot's expiry, from the command line.
func TestWritesInPools(t *testing.T) {
	eachDB(t, func(t *testing.T, db string) {
		cat := featureCatalog(t)
		rec := ok[receiptJSON](t, db, "grant", "-catalog", cat, "-key", "g1", "-pool", "image", "ann", "20")
		require.Equal(t, "20", rec.Balance, "the receipt answers with the image pool's figures")
		require.Equal(t, "image", rec.Entries[0].Pool)
		later := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
		ok[receiptJSON](t, db, "grant", "-catalog", cat, "-key", "g2", "-pool", "image", "-effective-at", later, "ann", "5")

		// 3 units at 2.5 cost 7.5, rounded up to 8 at scale 0.
		rec = ok[receiptJSON](t, db, "consume", "-catalog", cat, "-feature", "image_hd", "ann", "3")
		require.Equal(t, "12", rec.Balance)
		require.Len(t, rec.Entries, 1)
		require.Equal(t, "-8", rec.Entries[0].Amount)
		require.Equal(t, "image_hd", rec.Entries[0].Feature)
		require.Equal(t, "3", rec.Entries[0].Quantity)

		// The default pool has nothing: image credits are not spent there.
		r := cli(t, db, "consume", "-catalog", cat, "ann", "1")
		require.Equal(t, exitFailure, r.code, r.stdout)
		require.Contains(t, r.stderr, "insufficient credits")
		rec = ok[receiptJSON](t, db, "consume", "-catalog", cat, "-pool", "image", "ann", "2")
		require.Equal(t, "10", rec.Balance)

		b := ok[balanceJSON](t, db, "balance", "-catalog", cat, "ann")
		require.Equal(t, "0", b.Available, "the default pool")
		require.Equal(t, "10", b.Pools["image"].Available)
		require.Len(t, b.Pools["image"].Upcoming, 1, "the dated grant is upcoming")
		require.Equal(t, "5", b.Pools["image"].Upcoming[0].Remaining)
		require.NotNil(t, b.Pools["image"].Upcoming[0].EffectiveAt)

		// An unknown feature is a refused value: exit 2, nothing written.
		r = cli(t, db, "consume", "-catalog", cat, "-feature", "video", "ann", "1")
		require.Equal(t, exitUsage, r.code, r.stdout)
		require.Contains(t, r.stderr, "video")
		require.Equal(t, "10", ok[balanceJSON](t, db, "balance", "-catalog", cat, "ann").Pools["image"].Available)

		// set-lot-expiry: a date, then never; the history records both.
		lot := b.Pools["image"].Lots[0].ID
		exp := time.Now().Add(240 * time.Hour).UTC().Format(time.RFC3339)
		rec = ok[receiptJSON](t, db, "set-lot-expiry", "-catalog", cat, "ann", lot, exp)
		require.Equal(t, "set_expiry", rec.Entries[0].Kind)
		b = ok[balanceJSON](t, db, "balance", "-catalog", cat, "ann")
		require.Equal(t, exp, b.Pools["image"].Lots[0].ExpiresAt.Format(time.RFC3339))
		ok[receiptJSON](t, db, "set-lot-expiry", "-catalog", cat, "ann", lot, "never")
		b = ok[balanceJSON](t, db, "balance", "-catalog", cat, "ann")
		require.Nil(t, b.Pools["image"].Lots[0].ExpiresAt)

		r = cli(t, db, "set-lot-expiry", "-catalog", cat, "ann", lot, "tomorrow")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.stderr, "tomorrow")
		r = cli(t, db, "set-lot-expiry", "-catalog", cat, "ann", "no-such-lot", "never")
		require.NotEqual(t, exitOK, r.code)
		require.Contains(t, r.stderr, "no-such-lot")

		// The image pool's history only.
		r = cli(t, db, "entries", "-catalog", cat, "-pool", "image", "ann")
		require.Equal(t, exitOK, r.code, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 7, "a header and six entries: two grants, two consumes, two expiry changes\n%s", r.stdout)
		for _, line := range lines[1:] {
			require.Regexp(t, `\simage(\s|$)`, line, "only the image pool's entries")
		}
	})
}
