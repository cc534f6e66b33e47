package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
)

// TestAnchorAndVerifyAnchor: anchor -json writes the file verify -anchor
// reads; a history that grew since extends it; a deleted last operation
// (head, seq and balance rolled back, which plain verify cannot see) is
// reported with exit 1; an altered file or the wrong digest is refused.
func TestAnchorAndVerifyAnchor(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	r := runCmd(t, "anchor", "-db", db, "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	a, err := ledger.ParseAnchor([]byte(r.stdout))
	require.NoError(t, err)
	require.Equal(t, 3, a.Accounts)
	file := filepath.Join(t.TempDir(), "anchor.json")
	require.NoError(t, os.WriteFile(file, []byte(r.stdout), 0o600))

	text := runCmd(t, "anchor", "-db", db)
	require.Equal(t, exitOK, text.code, text.stderr)
	require.Contains(t, text.stdout, "anchor of 3 accounts at ")
	require.Regexp(t, `\ndigest [0-9a-f]{64}\n`, text.stdout) // over the heads and the instant: another each run
	require.Contains(t, text.stdout, "alice    2    "+a.Heads[0].Hash)

	r = runCmd(t, "verify", "-db", db, "-anchor", file, "-digest", a.Digest)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "checked 3 accounts against the anchor of ")
	require.Contains(t, r.stdout, ": 0 no longer extend it")

	// bob's only operation is deleted, his head rolled back.
	store := testdb.Open(t, db)
	ctx := context.Background()
	for _, q := range []string{
		"DROP TRIGGER creditledger_entries_no_delete",
		"DELETE FROM creditledger_entries WHERE account_id = 'bob'",
		"DELETE FROM creditledger_lots WHERE account_id = 'bob'",
		"UPDATE creditledger_accounts SET balance = 0, seq = 0, head_hash = NULL, next_expiry_at = NULL WHERE id = 'bob'",
	} {
		_, err := store.DB().ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, store.Close())

	r = runCmd(t, "verify", "-db", db)
	require.Equal(t, exitOK, r.code, "plain verify cannot see it: %s", r.stdout)
	r = runCmd(t, "verify", "-db", db, "-anchor", file, "-json")
	require.Equal(t, exitFailure, r.code, r.stdout)
	var out struct {
		OK           bool     `json:"ok"`
		Anchored     int      `json:"anchored"`
		AnchorBroken []string `json:"anchorBroken"`
		Violations   []string `json:"violations"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	require.False(t, out.OK)
	require.Equal(t, 3, out.Anchored)
	require.Equal(t, []string{"bob"}, out.AnchorBroken)
	require.Len(t, out.Violations, 1)
	require.Contains(t, out.Violations[0], `account "bob": does not extend the anchor`)
	r = runCmd(t, "verify", "-db", db, "-anchor", file)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stdout, "1 no longer extend it")

	// The wrong digest, an altered file, a missing file: refused.
	r = runCmd(t, "verify", "-db", db, "-anchor", file, "-digest", "00"+a.Digest[2:])
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "not the digest kept")
	a.Heads[1].Seq = 0
	a.Heads[1].Hash = ""
	altered, err := json.Marshal(a)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, altered, 0o600))
	r = runCmd(t, "verify", "-db", db, "-anchor", file)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "the anchor was altered")
	r = runCmd(t, "verify", "-db", db, "-anchor", filepath.Join(t.TempDir(), "none.json"))
	require.Equal(t, exitFailure, r.code)
	r = runCmd(t, "verify", "-db", db, "-digest", a.Digest)
	require.Equal(t, exitUsage, r.code)
}

// TestEntriesShowPlanChanges: the entries command lists a plan change (a
// KindPlan entry) like any other entry.
func TestEntriesShowPlanChanges(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	r := runCmd(t, "entries", "-db", db, "-json", "carol")
	require.Equal(t, exitOK, r.code, r.stderr)
	var out struct {
		Entries []struct {
			Kind, Source string
			Metadata     map[string]string
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	last := out.Entries[len(out.Entries)-1]
	require.Equal(t, "plan", last.Kind)
	require.Equal(t, "pro_yearly", last.Source)
	require.Equal(t, "", last.Metadata["previous_plan"])
	r = runCmd(t, "entries", "-db", db, "carol")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "plan pro_yearly")
}
