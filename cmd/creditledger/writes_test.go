package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
)

// eachEmptyDB runs fn as a parallel subtest on a SQLite path (no file
// there yet) and an empty PostgreSQL schema.
func eachEmptyDB(t *testing.T, fn func(t *testing.T, kind, db string)) {
	t.Helper()
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(t.TempDir(), "ledger.db")
			if kind == "postgres" {
				db = testdb.PostgresDSN(t)
			}
			fn(t, kind, db)
		})
	}
}

// eachDB runs fn as a parallel subtest on a migrated SQLite file and a
// migrated PostgreSQL schema, both made by the migrate command.
func eachDB(t *testing.T, fn func(t *testing.T, db string)) {
	t.Helper()
	eachEmptyDB(t, func(t *testing.T, _, db string) {
		r := runCmd(t, "migrate", "-db", db)
		require.Equal(t, exitOK, r.code, r.stderr)
		fn(t, db)
	})
}

// cli runs a command on db: "-db db" goes right after the command name.
func cli(t *testing.T, db string, args ...string) result {
	t.Helper()
	return runCmd(t, append([]string{args[0], "-db", db}, args[1:]...)...)
}

// ok runs a command with -json, requires exit 0 and decodes its output.
func ok[T any](t *testing.T, db string, args ...string) T {
	t.Helper()
	r := cli(t, db, append(args[:1:1], append([]string{"-json"}, args[1:]...)...)...)
	require.Equal(t, exitOK, r.code, "%q: %s", args, r.stderr)
	var out T
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	return out
}

// available returns an account's available balance, by the balance
// command.
func available(t *testing.T, db, account string) string {
	t.Helper()
	return ok[balanceJSON](t, db, "balance", account).Available
}

// entryCount returns the number of entries of an account, 0 for an
// account never written to.
func entryCount(t *testing.T, db, account string) int {
	t.Helper()
	r := cli(t, db, "entries", "-json", "-limit", "1000", account)
	if r.code == exitFailure {
		require.Contains(t, r.stderr, "not found")
		return 0
	}
	require.Equal(t, exitOK, r.code, r.stderr)
	var page struct{ Entries []entryJSON }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	return len(page.Entries)
}

// fails runs a command that must exit with code, write nothing to the
// account, and say why on stderr.
func fails(t *testing.T, db string, code int, account, why string, args ...string) {
	t.Helper()
	before := entryCount(t, db, account)
	r := cli(t, db, args...)
	require.Equal(t, code, r.code, "%q: %s", args, r.stderr)
	require.Contains(t, r.stderr, why, "%q", args)
	require.Empty(t, r.stdout, "%q", args)
	require.Equal(t, before, entryCount(t, db, account), "%q wrote entries", args)
}

func TestGrantCommand(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db string) {
		rec := ok[receiptJSON](t, db, "grant", "-key", "inv-1", "-source", "goodwill", "-expires-in", "720h",
			"-description", "sorry for the outage", "-meta", "ticket=T-9", "alice", "100")
		require.False(t, rec.Replayed)
		require.Equal(t, "100", rec.Balance)
		require.Len(t, rec.Entries, 1)
		e := rec.Entries[0]
		require.Equal(t, "grant", e.Kind)
		require.Equal(t, "100", e.Amount)
		require.Equal(t, "goodwill", e.Source)
		require.Equal(t, "sorry for the outage", e.Description)
		require.Equal(t, map[string]string{"ticket": "T-9"}, e.Metadata)
		bal := ok[balanceJSON](t, db, "balance", "alice")
		require.Len(t, bal.Lots, 1)
		require.NotNil(t, bal.Lots[0].ExpiresAt)
		require.Equal(t, 720*3600.0, bal.Lots[0].ExpiresAt.Sub(bal.Lots[0].CreatedAt).Seconds())

		// The same call again: the first receipt, nothing written.
		again := ok[receiptJSON](t, db, "grant", "-key", "inv-1", "-source", "goodwill", "-expires-in", "720h",
			"-description", "sorry for the outage", "-meta", "ticket=T-9", "alice", "100")
		require.True(t, again.Replayed)
		require.Equal(t, rec.OperationID, again.OperationID)
		require.Equal(t, "100", available(t, db, "alice"))
		require.Equal(t, 1, entryCount(t, db, "alice"))

		// Text output says what happened.
		r := cli(t, db, "grant", "-key", "inv-2", "alice", "5")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "granted 5 to alice: operation ")
		require.Contains(t, r.stdout, "available 105")

		fails(t, db, exitFailure, "alice", "idempotency key reused", "grant", "-key", "inv-1", "alice", "99")
		fails(t, db, exitUsage, "alice", "-key KEY is required", "grant", "alice", "10")
		fails(t, db, exitUsage, "alice", `AMOUNT "ten" is not a decimal number`, "grant", "-key", "k3", "alice", "ten")
		fails(t, db, exitUsage, "alice", "invalid amount", "grant", "-key", "k3", "alice", "0")
		fails(t, db, exitUsage, "alice", "invalid amount", "grant", "-key", "k3", "alice", "1.5")
		fails(t, db, exitUsage, "alice", "exclude each other", "grant", "-key", "k3", "-expires-in", "1h", "-expires-at", "2030-01-01T00:00:00Z", "alice", "1")
		fails(t, db, exitUsage, "alice", "not after now", "grant", "-key", "k3", "-expires-at", "2020-01-01T00:00:00Z", "alice", "1")
		fails(t, db, exitUsage, "alice", "not an RFC 3339 instant", "grant", "-key", "k3", "-expires-at", "tomorrow", "alice", "1")
		fails(t, db, exitUsage, "alice", "needs ACCOUNT AMOUNT", "grant", "-key", "k3", "alice")
		fails(t, db, exitUsage, "alice", "not KEY=VALUE", "grant", "-key", "k3", "-meta", "novalue", "alice", "1")
		require.Equal(t, "105", available(t, db, "alice"))
	})
}

func TestGrantPackCommand(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db string) {
		rec := ok[receiptJSON](t, db, "grant-pack", "-key", "pay-1", "bob", "basic")
		require.False(t, rec.Replayed)
		require.Equal(t, "100", rec.Balance)
		require.Equal(t, "purchase_package", rec.Entries[0].Source)
		require.Equal(t, "pack basic", rec.Entries[0].Description)
		again := ok[receiptJSON](t, db, "grant-pack", "-key", "pay-1", "bob", "basic")
		require.True(t, again.Replayed)
		require.Equal(t, "100", available(t, db, "bob"))

		fails(t, db, exitUsage, "bob", `unknown pack "gold"`, "grant-pack", "-key", "pay-2", "bob", "gold")
		fails(t, db, exitUsage, "bob", "-key KEY is required", "grant-pack", "bob", "basic")
		fails(t, db, exitFailure, "bob", "idempotency key reused", "grant-pack", "-key", "pay-1", "bob", "standard")
		require.Equal(t, "100", available(t, db, "bob"))
	})
}

func TestConsumeCommand(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db string) {
		ok[receiptJSON](t, db, "grant", "-key", "g", "carol", "100")
		rec := ok[receiptJSON](t, db, "consume", "-key", "gen-1", "-description", "an AI call", "carol", "30")
		require.Equal(t, "70", rec.Balance)
		require.Equal(t, "consume", rec.Entries[0].Kind)
		require.Equal(t, "-30", rec.Entries[0].Amount)
		again := ok[receiptJSON](t, db, "consume", "-key", "gen-1", "-description", "an AI call", "carol", "30")
		require.True(t, again.Replayed)
		// Without a key, each call spends.
		ok[receiptJSON](t, db, "consume", "carol", "5")
		ok[receiptJSON](t, db, "consume", "carol", "5")
		require.Equal(t, "60", available(t, db, "carol"))

		fails(t, db, exitFailure, "carol", "insufficient credits", "consume", "carol", "61")
		fails(t, db, exitFailure, "carol", "idempotency key reused", "consume", "-key", "gen-1", "carol", "31")
		fails(t, db, exitUsage, "carol", "invalid amount", "consume", "--", "carol", "-5")
		fails(t, db, exitUsage, "carol", "flag provided but not defined: -5", "consume", "carol", "-5")
		fails(t, db, exitUsage, "carol", "invalid amount", "consume", "carol", "0")
		fails(t, db, exitUsage, "carol", "is not a decimal number", "consume", "carol", "3x")
		fails(t, db, exitFailure, "nobody", "insufficient credits", "consume", "nobody", "1")
		require.Equal(t, "60", available(t, db, "carol"))
	})
}

func TestHoldCommands(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db string) {
		ok[receiptJSON](t, db, "grant", "-key", "g", "dan", "100")
		h := ok[holdJSON](t, db, "hold", "-key", "job-1", "-ttl", "1h", "dan", "20")
		require.Equal(t, "active", h.State)
		require.Equal(t, "20", h.Amount)
		require.Equal(t, 3600.0, h.ExpiresAt.Sub(h.CreatedAt).Seconds())
		require.False(t, h.Replayed)
		again := ok[holdJSON](t, db, "hold", "-key", "job-1", "-ttl", "1h", "dan", "20")
		require.True(t, again.Replayed)
		require.Equal(t, h.ID, again.ID)
		bal := ok[balanceJSON](t, db, "balance", "dan")
		require.Equal(t, "80", bal.Available)
		require.Equal(t, "20", bal.Held)

		hs := ok[struct {
			Account string     `json:"account"`
			Holds   []holdJSON `json:"holds"`
		}](t, db, "holds", "dan")
		require.Equal(t, "dan", hs.Account)
		require.Len(t, hs.Holds, 1)
		require.Equal(t, h.ID, hs.Holds[0].ID)

		// Capture 15 of the 20: 15 spent, 5 back.
		rec := ok[receiptJSON](t, db, "capture", "dan", h.ID, "15")
		require.Equal(t, "85", rec.Balance)
		again2 := ok[receiptJSON](t, db, "capture", "dan", h.ID, "15")
		require.True(t, again2.Replayed)
		require.Equal(t, rec.OperationID, again2.OperationID)
		fails(t, db, exitFailure, "dan", "hold is not active", "capture", "dan", h.ID, "10")
		fails(t, db, exitFailure, "dan", "hold is not active", "release", "dan", h.ID)

		// Another hold, released: everything back.
		h2 := ok[holdJSON](t, db, "hold", "dan", "50")
		require.Equal(t, 15*60.0, h2.ExpiresAt.Sub(h2.CreatedAt).Seconds(), "the default TTL")
		require.Equal(t, "35", available(t, db, "dan"))
		rel := ok[holdJSON](t, db, "release", "-description", "job cancelled", "dan", h2.ID)
		require.Equal(t, "released", rel.State)
		require.Equal(t, "85", available(t, db, "dan"))
		n := entryCount(t, db, "dan")
		rel = ok[holdJSON](t, db, "release", "dan", h2.ID)
		require.Equal(t, "released", rel.State, "a second release returns the hold unchanged")
		require.Equal(t, n, entryCount(t, db, "dan"))
		hs = ok[struct {
			Account string     `json:"account"`
			Holds   []holdJSON `json:"holds"`
		}](t, db, "holds", "dan")
		require.Empty(t, hs.Holds)

		fails(t, db, exitUsage, "dan", "outside [0, 24h0m0s]", "hold", "-ttl", "25h", "dan", "1")
		fails(t, db, exitUsage, "dan", "-ttl", "hold", "-ttl", "-1m", "dan", "1")
		fails(t, db, exitFailure, "dan", "insufficient credits", "hold", "dan", "86")
		fails(t, db, exitFailure, "dan", "not found", "release", "dan", "no-such-hold")
		fails(t, db, exitFailure, "dan", "not found", "capture", "dan", "no-such-hold", "1")
		fails(t, db, exitUsage, "dan", "invalid amount", "capture", "dan", h2.ID, "0")
		require.Equal(t, "85", available(t, db, "dan"))
		r := cli(t, db, "verify")
		require.Equal(t, exitOK, r.code, r.stdout)
	})
}

func TestReverseCommand(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db string) {
		g := ok[receiptJSON](t, db, "grant", "-key", "pay-1", "erin", "100")
		ok[receiptJSON](t, db, "consume", "-key", "gen-1", "erin", "40")
		require.Equal(t, "60", available(t, db, "erin"))

		// A failed call, reversed by its key, in part then in full.
		rec := ok[receiptJSON](t, db, "reverse", "-of-key", "gen-1", "-amount", "10", "-key", "rev-1", "erin")
		require.Equal(t, "70", rec.Balance)
		require.Equal(t, "reverse", rec.Entries[0].Kind)
		require.Equal(t, "10", rec.Entries[0].Amount)
		again := ok[receiptJSON](t, db, "reverse", "-of-key", "gen-1", "-amount", "10", "-key", "rev-1", "erin")
		require.True(t, again.Replayed)
		require.Equal(t, "70", available(t, db, "erin"))
		rec = ok[receiptJSON](t, db, "reverse", "-of-key", "gen-1", "erin")
		require.Equal(t, "100", rec.Balance)
		none := ok[receiptJSON](t, db, "reverse", "-of-key", "gen-1", "erin")
		require.True(t, none.NothingToReverse)
		require.Empty(t, none.Entries)
		r := cli(t, db, "reverse", "-of-key", "gen-1", "erin")
		require.Equal(t, exitOK, r.code)
		require.Contains(t, r.stdout, "nothing left to reverse")

		// The pack refunded by its operation id.
		rec = ok[receiptJSON](t, db, "reverse", "-operation", g.OperationID, "erin")
		require.Equal(t, "0", rec.Balance)
		require.Equal(t, "-100", rec.Entries[0].Amount)

		fails(t, db, exitUsage, "erin", "exactly one of -operation ID and -of-key KEY", "reverse", "erin")
		fails(t, db, exitUsage, "erin", "exactly one of", "reverse", "-operation", g.OperationID, "-of-key", "pay-1", "erin")
		fails(t, db, exitUsage, "erin", `-amount "lots" is not a decimal number`, "reverse", "-of-key", "pay-1", "-amount", "lots", "erin")
		fails(t, db, exitFailure, "erin", "not found", "reverse", "-of-key", "no-such-key", "erin")
		fails(t, db, exitUsage, "erin", "only grants, consumes and captures", "reverse", "-operation", rec.OperationID, "erin")
		require.Equal(t, "0", available(t, db, "erin"))
	})
}

func TestSetPlanCommand(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db string) {
		res := ok[planJSON](t, db, "set-plan", "frank", "pro_yearly")
		require.True(t, res.Changed)
		require.Equal(t, "pro_yearly", res.Plan)
		require.Equal(t, "1050", res.Granted, "the signup gift and the month")
		require.Len(t, res.Entries, 3, "the plan change, the gift and the month")
		require.Equal(t, "plan", string(res.Entries[0].Kind))
		require.Equal(t, "1050", available(t, db, "frank"))
		again := ok[planJSON](t, db, "set-plan", "frank", "pro_yearly")
		require.False(t, again.Changed)
		require.Equal(t, "0", again.Granted)
		require.Empty(t, again.Entries)
		require.True(t, again.Anchor.Equal(res.Anchor), "the anchor is kept")

		r := cli(t, db, "set-plan", "-anchor", "2026-01-31T10:00:00Z", "-current-period-granted", "gina", "pro_yearly")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "account gina on plan pro_yearly (anchor 2026-01-31T10:00:00Z): granted 50")
		bal := ok[balanceJSON](t, db, "balance", "gina")
		require.Equal(t, "pro_yearly", bal.Plan)
		require.Equal(t, "50", bal.Available, "the gift only: the period was granted elsewhere")

		fails(t, db, exitUsage, "frank", `unknown plan: "platinum"`, "set-plan", "frank", "platinum")
		fails(t, db, exitUsage, "hank", `unknown plan`, "set-plan", "hank", "platinum")
		fails(t, db, exitUsage, "frank", "not an RFC 3339 instant", "set-plan", "-anchor", "yesterday", "frank", "free")
		require.Equal(t, "pro_yearly", ok[balanceJSON](t, db, "balance", "frank").Plan)
	})
}

// An error line names the command, then the reason once: no second
// "creditledger:", no account named twice.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db string) {
		r := cli(t, db, "consume", "nobody", "1")
		require.Equal(t, exitFailure, r.code)
		require.Contains(t, r.stderr, "\ncreditledger consume: insufficient credits: account \"nobody\" has no credits (it was never written to)\n")
		r = cli(t, db, "entries", "nobody")
		require.Equal(t, exitFailure, r.code)
		require.Contains(t, r.stderr, "\ncreditledger entries: not found: account \"nobody\"\n")
		r = cli(t, db, "grant-pack", "-key", "k", "nobody", "gold")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.stderr, "\ncreditledger grant-pack: unknown pack \"gold\": not in the catalog\n")
	})
}

// Without -scale a command uses the scale the database records; another
// given explicitly is refused, writing nothing.
func TestScaleFromDatabase(t *testing.T) {
	t.Parallel()
	eachEmptyDB(t, func(t *testing.T, _, db string) {
		r := runCmd(t, "migrate", "-db", db, "-scale", "2")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "(scale 2)")
		r = runCmd(t, "migrate", "-db", db)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "(scale 2)", "migrating again keeps the scale")

		rec := ok[receiptJSON](t, db, "grant", "-key", "g", "alice", "1.25")
		require.Equal(t, "1.25", rec.Balance)
		fails(t, db, exitUsage, "alice", "more than 2 decimal places", "consume", "alice", "0.001")
		fails(t, db, exitFailure, "alice", "scale mismatch", "consume", "-scale", "0", "alice", "1")
		fails(t, db, exitUsage, "alice", `"7" is not a scale in 0..6`, "consume", "-scale", "7", "alice", "1")
		require.Equal(t, "1.25", available(t, db, "alice"))
	})
}
