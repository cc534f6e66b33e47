package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/defaults"
	"github.com/creditledger/creditledger/internal/mksaas/mksaastest"
	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// result is one in-process run of the command.
type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// seeded returns a SQLite file with alice (a 100 pack expiring in ten
// days, 30 spent), bob (5 that never expire) and carol on pro_yearly, all
// written through the library as a host would.
func seeded(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	store := testdb.Open(t, path)
	l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog()})
	require.NoError(t, err)
	ctx := t.Context()
	exp := time.Now().Add(10 * 24 * time.Hour)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "alice", Source: "purchase_package", IdempotencyKey: "inv-1", Amount: decimal.NewFromInt(100), ExpiresAt: &exp})
	require.NoError(t, err)
	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "alice", Amount: decimal.NewFromInt(30), Description: "an AI call"})
	require.NoError(t, err)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "bob", IdempotencyKey: "inv-2", Amount: decimal.NewFromInt(5)})
	require.NoError(t, err)
	require.NoError(t, l.SetPlan(ctx, ledger.PlanParams{Account: "carol", Plan: "pro_yearly"}))
	return path
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "help", "--help"} {
		r := runCmd(t, arg)
		require.Equal(t, exitOK, r.code)
		for _, c := range commands() {
			require.Contains(t, r.stdout, c.name)
		}
	}
	for _, c := range commands() {
		r := runCmd(t, c.name, "-h")
		require.Equal(t, exitOK, r.code, c.name)
		require.Contains(t, r.stdout, "Usage: creditledger "+c.name, c.name)
		flags := []string{"-catalog", "-json"}
		if c.db != dbNone {
			flags = append(flags, "-db", "-scale")
		} else {
			require.NotContains(t, r.stdout, "-db", "%s opens no database", c.name)
		}
		for _, f := range flags {
			require.Contains(t, r.stdout, f, c.name)
		}
		require.Empty(t, r.stderr)
	}
	r := runCmd(t, "import-mksaas", "-h")
	for _, f := range []string{"-from", "-plan-map", "-tz", "-dry-run"} {
		require.Contains(t, r.stdout, f)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "x.db")
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"balance", "-db", db},
		{"balance", "-db", db, "a", "b"},
		{"verify", "-db", db, "extra"},
		{"verify", "-nope"},
		{"verify", "-scale", "9", "-db", db},
		{"distribute", "-db", db, "-chunk", "-1"},
		{"distribute", "-db", db, "-budget", "-5s"},
		{"distribute", "-db", db, "-budget", "soon"},
		{"distribute", "-db", db, "-progress", "fancy"},
		{"entries", "-db", db, "-limit", "0", "alice"},
		{"import-mksaas", "-db", db},
		{"import-mksaas", "-db", db, "-from", "postgres://x/y", "-tz", "Mars/Olympus"},
		{"import-mksaas", "-db", db, "-from", "postgres://x/y", "-tz", "Local"},
		{"import-mksaas", "-db", db, "-from", "postgres://x/y", "-plan-map", "price_only"},
	} {
		r := runCmd(t, args...)
		require.Equal(t, exitUsage, r.code, "%q: %s", args, r.stderr)
		require.NotEmpty(t, r.stderr, "%q", args)
		require.Empty(t, r.stdout, "%q", args)
	}
	_, err := os.Stat(db)
	require.True(t, os.IsNotExist(err), "a usage error opened the database")
}

func TestBalanceAndEntries(t *testing.T) {
	t.Parallel()
	db := seeded(t)

	r := runCmd(t, "balance", "-db", db, "-json", "alice")
	require.Equal(t, exitOK, r.code, r.stderr)
	var bal map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &bal))
	require.Equal(t, "alice", bal["account"])
	require.Equal(t, "70", bal["available"], "a decimal string, never a number")
	require.Equal(t, "0", bal["held"])
	require.Equal(t, "", bal["plan"], "never given a plan: the default plan applies")
	lots := bal["lots"].([]any)
	require.Len(t, lots, 1)
	lot := lots[0].(map[string]any)
	require.Equal(t, "purchase_package", lot["source"])
	require.Equal(t, "100", lot["amount"])
	require.Equal(t, "70", lot["remaining"])
	require.NotNil(t, lot["expiresAt"])

	// Flags may follow the account.
	r = runCmd(t, "balance", "bob", "-db", db, "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &bal))
	require.Equal(t, "5", bal["available"])
	require.Nil(t, bal["lots"].([]any)[0].(map[string]any)["expiresAt"], "never expires: null")

	r = runCmd(t, "balance", "-db", db, "alice")
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stdout, "account alice: 70 available (plan: none set, so the default free)")
	require.Contains(t, r.stdout, "purchase_package")

	r = runCmd(t, "balance", "-db", db, "nobody")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, `"nobody"`)
	require.Contains(t, r.stderr, "not found")

	r = runCmd(t, "entries", "-db", db, "-json", "alice")
	require.Equal(t, exitOK, r.code, r.stderr)
	var page struct {
		Account string `json:"account"`
		Entries []struct {
			Kind, Amount, BalanceAfter, Source, Description string
		} `json:"entries"`
		NextCursor string `json:"nextCursor"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	require.Equal(t, "alice", page.Account)
	require.Len(t, page.Entries, 2)
	require.Equal(t, "consume", page.Entries[0].Kind, "newest first")
	require.Equal(t, "-30", page.Entries[0].Amount)
	require.Equal(t, "70", page.Entries[0].BalanceAfter)
	require.Equal(t, "an AI call", page.Entries[0].Description)
	require.Equal(t, "grant", page.Entries[1].Kind)
	require.Empty(t, page.NextCursor)

	// Pages: one entry, then the cursor it prints.
	r = runCmd(t, "entries", "-db", db, "-limit", "1", "alice")
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stdout, "consume")
	require.NotContains(t, r.stdout, "grant")
	i := strings.Index(r.stdout, "more: -cursor ")
	require.GreaterOrEqual(t, i, 0, r.stdout)
	cursor := strings.TrimSpace(r.stdout[i+len("more: -cursor "):])
	r = runCmd(t, "entries", "-db", db, "-limit", "1", "-cursor", cursor, "alice")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "grant")
	require.NotContains(t, r.stdout, "more:")
}

func TestDistributeAndVerify(t *testing.T) {
	t.Parallel()
	db := seeded(t)

	r := runCmd(t, "verify", "-db", db)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "verified 3 accounts")
	require.Contains(t, r.stdout, "0 violations")

	// alice and bob are on the default plan and due; carol had her period
	// from SetPlan.
	r = runCmd(t, "distribute", "-db", db, "-json", "-chunk", "1", "-progress", "lines")
	require.Equal(t, exitOK, r.code, r.stderr)
	var res distributeJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Equal(t, 2, res.Granted)
	require.Equal(t, "100", res.GrantedCredits)
	require.Equal(t, "0", res.ExpiredCredits)
	require.True(t, res.Complete)
	require.Contains(t, r.stderr, "distribute: chunk 1:", "a progress line off a terminal")

	r = runCmd(t, "balance", "-db", db, "-json", "bob")
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stdout, `"available": "55"`)

	r = runCmd(t, "distribute", "-db", db)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "granted: 0 lots")

	r = runCmd(t, "distribute", "-db", db, "-expire-only", "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Zero(t, res.Granted)

	r = runCmd(t, "verify", "-db", db, "-json")
	require.Equal(t, exitOK, r.code)
	var vr struct {
		OK         bool     `json:"ok"`
		Accounts   int      `json:"accounts"`
		Violations []string `json:"violations"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &vr))
	require.True(t, vr.OK)
	require.Equal(t, 3, vr.Accounts)
	require.Empty(t, vr.Violations)

	// Tamper with a lot behind the ledger's back: verify says so, exit 1.
	store := testdb.Open(t, db)
	_, err := store.DB().ExecContext(context.Background(), `UPDATE creditledger_lots SET remaining = remaining - 1 WHERE account_id = 'alice'`)
	require.NoError(t, err)
	require.NoError(t, store.Close())
	r = runCmd(t, "verify", "-db", db, "-json")
	require.Equal(t, exitFailure, r.code)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &vr))
	require.False(t, vr.OK)
	require.NotEmpty(t, vr.Violations)
	require.Contains(t, strings.Join(vr.Violations, "\n"), "alice")
}

func TestCatalogFile(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	dir := t.TempDir()

	// The printed catalog is the reference one, and reads back.
	r := runCmd(t, "catalog")
	require.Equal(t, exitOK, r.code)
	got, err := policy.ParseCatalog([]byte(r.stdout))
	require.NoError(t, err)
	require.Equal(t, policy.ReferenceCatalog(), got)

	// A catalog without pro_yearly: carol's plan is unknown, the run
	// counts her as an error and exits 1; the others are served, with the
	// free plan's 70 of this catalog.
	cat := policy.ReferenceCatalog()
	cat.Plans = []policy.Plan{{ID: "free", Allocation: policy.MonthlyCalendar(decimal.NewFromInt(70), ""), Expiry: policy.AfterDays(30)}}
	data, err := json.Marshal(cat)
	require.NoError(t, err)
	file := filepath.Join(dir, "catalog.json")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	// Make carol due: move her to lifetime, which this catalog lacks too.
	store := testdb.Open(t, db)
	l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog()})
	require.NoError(t, err)
	require.NoError(t, l.SetPlans(t.Context(), []ledger.PlanParams{{Account: "carol", Plan: "lifetime"}}))
	require.NoError(t, store.Close())

	r = runCmd(t, "distribute", "-db", db, "-catalog", file, "-json")
	require.Equal(t, exitFailure, r.code, r.stderr)
	var res distributeJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Equal(t, 1, res.Errors)
	require.Equal(t, "140", res.GrantedCredits)
	require.Contains(t, r.stderr, "unknown plan")

	// A catalog that does not validate: exit 1 with the reason.
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"plans": [{"id": "free", "expiry": {"type": "after_days", "days": 0}}]}`), 0o600))
	r = runCmd(t, "balance", "-db", db, "-catalog", bad, "alice")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "invalid catalog")
	require.Contains(t, r.stderr, "AfterDays(0)")
	r = runCmd(t, "balance", "-db", db, "-catalog", filepath.Join(dir, "missing.json"), "alice")
	require.Equal(t, exitFailure, r.code)
}

// TestDefaultDB checks the -db defaults: $DATABASE_URL, else the example
// server's file if it exists in the working folder, else a usage error
// that creates nothing. Not parallel: it sets the environment and the
// working folder.
func TestDefaultDB(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("DATABASE_URL", "")
	for _, args := range [][]string{{"migrate"}, {"verify"}, {"balance", "alice"}, {"grant", "-key", "k", "alice", "5"}, {"distribute"}} {
		r := runCmd(t, args...)
		require.Equal(t, exitUsage, r.code, "%q: %s", args, r.stderr)
		require.Contains(t, r.stderr, "no database: give -db DSN or set $DATABASE_URL", args)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Empty(t, entries, "%q created a file", args)
	}

	// Once the example server's file exists, it is the default.
	r := runCmd(t, "migrate", "-db", defaults.ExampleSQLiteFile)
	require.Equal(t, exitOK, r.code, r.stderr)
	r = runCmd(t, "verify", "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "creditledger: database sqlite "+defaults.ExampleSQLiteFile+"\n", r.stderr)

	// $DATABASE_URL comes before it, and is not created by a read.
	other := filepath.Join(dir, "other.db")
	t.Setenv("DATABASE_URL", other)
	r = runCmd(t, "balance", "alice")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "creditledger: database sqlite "+other+"\n")
	require.Contains(t, r.stderr, "file does not exist")
	_, err := os.Stat(other)
	require.ErrorIs(t, err, os.ErrNotExist)
	r = runCmd(t, "migrate")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "migrated sqlite "+other)
	_, err = os.Stat(other)
	require.NoError(t, err)
}

func TestMigratePostgresHidesPassword(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresDSN(t)
	r := runCmd(t, "migrate", "-db", dsn)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "migrated postgres://")
	require.NotContains(t, r.stdout, "search_path", "parameters are left out")

	r = runCmd(t, "migrate", "-db", "postgres://someone:s3cret@127.0.0.1:1/none?connect_timeout=1")
	require.Equal(t, exitFailure, r.code)
	require.NotContains(t, r.stderr, "s3cret")
}

func TestImportMksaas(t *testing.T) {
	t.Parallel()
	src := mksaastest.New(t)
	now := time.Now().UTC()
	wall := func(t time.Time) time.Time { return mksaastest.Wall(t, time.UTC) }
	in := func(d time.Duration) *time.Time { w := wall(now.Add(d)); return &w }
	// dora: a yearly subscriber whose month MkSaaS granted an hour ago,
	// with 900 left; user_credit says 950.
	src.Balance("dora", 950)
	src.Payment("p1", "dora", "price_y", "subscription", "year", "active", wall(now.Add(-time.Hour)), wall(now.Add(-time.Hour)))
	src.Tx("t1", "dora", "SUBSCRIPTION_RENEWAL", 1000, 900, in(30*24*time.Hour), wall(now.Add(-time.Hour)))
	// eve: a pack and an expired gift MkSaaS never swept.
	src.Balance("eve", 60)
	src.Tx("t2", "eve", "PURCHASE_PACKAGE", 100, 50, nil, wall(now.Add(-48*time.Hour)))
	src.Tx("t3", "eve", "REGISTER_GIFT", 50, 10, in(-time.Hour), wall(now.Add(-40*24*time.Hour)))

	db := filepath.Join(t.TempDir(), "ledger.db")
	args := []string{"import-mksaas", "-db", db, "-from", src.DSN, "-plan-map", "price_y=pro_yearly", "-json"}
	r := runCmd(t, args...)
	require.Equal(t, exitFailure, r.code, "no ledger database yet: the import creates none")
	require.Contains(t, r.stderr, "file does not exist")

	var rep importJSON
	r = runCmd(t, append(args, "-dry-run")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.True(t, rep.DryRun)
	require.Contains(t, r.stderr, "creditledger: MkSaaS database postgres://")
	require.Contains(t, r.stderr, "creditledger: database none (a dry run does not open it)")
	require.Equal(t, 2, rep.Users)
	require.Equal(t, 2, rep.Lots)
	require.Equal(t, "950", rep.Credits)
	require.Zero(t, rep.Written)
	_, err := os.Stat(db)
	require.True(t, os.IsNotExist(err), "the dry run opened (and so created) the ledger's database")
	r = runCmd(t, "migrate", "-db", db)
	require.Equal(t, exitOK, r.code, r.stderr)

	r = runCmd(t, args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Equal(t, map[string]int{"pro_yearly": 1, "free": 1}, rep.Plans)
	require.Equal(t, 1, rep.PeriodsGranted)
	require.Equal(t, 2, rep.Written)
	require.Equal(t, 1, rep.ExpiredLots)
	require.Equal(t, "10", rep.ExpiredCredits)
	require.Equal(t, []mismatchJSON{{User: "dora", CurrentCredits: 950, OpenLots: 900}, {User: "eve", CurrentCredits: 60, OpenLots: 50}}, rep.Mismatches)

	// Again, in text: nothing written.
	r = runCmd(t, args[:len(args)-1]...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "lots written: 0, already imported: 2, failed: 0")
	require.Contains(t, r.stdout, "dora: current_credits 950, open lots 900")

	// The first distribution grants eve's free month only.
	r = runCmd(t, "distribute", "-db", db, "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var res distributeJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Equal(t, 1, res.Granted)
	require.Equal(t, "50", res.GrantedCredits)
	r = runCmd(t, "balance", "-db", db, "-json", "dora")
	require.Contains(t, r.stdout, `"available": "900"`)
	r = runCmd(t, "balance", "-db", db, "-json", "eve")
	require.Contains(t, r.stdout, `"available": "100"`)

	// An unknown plan in the map is a usage error that writes nothing.
	r = runCmd(t, "import-mksaas", "-db", db, "-from", src.DSN, "-plan-map", "price_y=platinum")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "platinum")
}

func TestProgressModes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	mode, err := progressMode("auto", &buf)
	require.NoError(t, err)
	require.Equal(t, progressLines, mode, "a buffer is no terminal")

	p := newProgress(progressBar, &buf)
	p.update(ledger.DistributeProgress{Accounts: 1000, Granted: 990, Chunks: 1, Remaining: -1})
	p.update(ledger.DistributeProgress{Accounts: 2000, Granted: 1990, Chunks: 2, Remaining: -1})
	p.finish()
	require.Contains(t, buf.String(), "accounts")

	// Lines come at most once per interval, the first at once.
	buf.Reset()
	p = newProgress(progressLines, &buf)
	p.every = time.Hour
	p.update(ledger.DistributeProgress{Accounts: 1000, Chunks: 1})
	p.update(ledger.DistributeProgress{Accounts: 2000, Chunks: 2})
	require.Equal(t, 1, strings.Count(buf.String(), "\n"))
	require.Contains(t, buf.String(), "chunk 1: 1000 accounts")

	buf.Reset()
	p = newProgress(progressNone, &buf)
	p.update(ledger.DistributeProgress{Accounts: 1000, Chunks: 1})
	require.Empty(t, buf.String())
}

func TestBalanceShowsHeld(t *testing.T) {
	t.Parallel()
	db := seeded(t)
	l, err := ledger.New(testdb.Open(t, db), &ledger.Config{Catalog: policy.ReferenceCatalog()})
	require.NoError(t, err)
	_, err = l.Hold(t.Context(), ledger.HoldParams{Account: "alice", Amount: decimal.NewFromInt(20), TTL: time.Hour})
	require.NoError(t, err)

	r := runCmd(t, "balance", "-db", db, "-json", "alice")
	require.Equal(t, exitOK, r.code, r.stderr)
	var bal map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &bal))
	require.Equal(t, "50", bal["available"])
	require.Equal(t, "20", bal["held"])
	r = runCmd(t, "balance", "-db", db, "alice")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "account alice: 50 available, 20 held (plan: ")
}
