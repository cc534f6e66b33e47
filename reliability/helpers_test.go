package reliability_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of admin connections
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
	"github.com/creditledger/creditledger/storage/memory"
)

var (
	heavyFlag = flag.Bool("reliability.heavy", false,
		"run the heavier variants: more accounts, kills, rounds, processes and inputs (minutes, not seconds)")
	seedFlag = flag.Uint64("reliability.seed", 0, "seed of the random choices (default: random, logged by every test)")
)

// sizes are the bounds of every scenario; heavy() gives the larger ones.
type sizes struct {
	crashAccounts int // accounts of the crash-and-resume test
	crashChunk    int
	crashKills    int // SIGKILLs per phase (two phases)

	cancelAccounts int // accounts of the cancellation test
	cancelChunk    int

	faultAccounts int // accounts of each database-fault test
	faultChunk    int
	faultRounds   int // faults injected per fault test

	procs        int // concurrent processes
	procAccounts int
	procChunk    int

	consumers     int // concurrent consumers on one account
	migrateRounds int // concurrent-migration rounds
	hostileRandom int // random hostile strings per store kind
}

func cfg() sizes {
	if *heavyFlag {
		return sizes{
			crashAccounts: 100_000, crashChunk: 250, crashKills: 12,
			cancelAccounts: 5_000, cancelChunk: 50,
			faultAccounts: 20_000, faultChunk: 50, faultRounds: 10,
			procs: 8, procAccounts: 50_000, procChunk: 200,
			consumers: 400, migrateRounds: 10, hostileRandom: 1_000,
		}
	}
	return sizes{
		crashAccounts: 20_000, crashChunk: 100, crashKills: 5,
		cancelAccounts: 1_000, cancelChunk: 20,
		faultAccounts: 3_000, faultChunk: 25, faultRounds: 3,
		procs: 5, procAccounts: 10_000, procChunk: 100,
		consumers: 100, migrateRounds: 3, hostileRandom: 40,
	}
}

var (
	seedOnce sync.Once
	runSeed  uint64
)

// newRNG returns the test's random source: the run's seed (flag or random,
// the same for every test of the run) mixed with the test's name, and logs
// how to replay it.
func newRNG(t *testing.T) *mrand.Rand {
	seedOnce.Do(func() {
		runSeed = *seedFlag
		if runSeed == 0 {
			runSeed = mrand.Uint64()
		}
	})
	h := fnv.New64a()
	_, _ = h.Write([]byte(t.Name()))
	t.Logf("seed %d (replay with -reliability.seed=%d)", runSeed, runSeed)
	return mrand.New(mrand.NewPCG(runSeed, h.Sum64()))
}

// The two instants the distribution runs at. At t1 every account is owed
// November's 50 credits (expiring t1+30 days); at t2 November's lot has
// expired and December's is owed.
var (
	t1          = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	t2          = time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC)
	novExpiry   = t1.AddDate(0, 0, 30)
	decExpiry   = t2.AddDate(0, 0, 30)
	decStart    = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	janStart    = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	planAmount  = int64(50) // the reference catalog's free plan
	planSource  = policy.SourceMonthlyRefresh
	runDeadline = 3 * time.Minute // bound of any single call in these tests
)

// catalog is the reference system's catalog: "free" grants 50 credits each
// calendar month, expiring 30 days after the grant.
func catalog() *policy.Catalog { return policy.ReferenceCatalog() }

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// newLedger makes a ledger on store whose clock is stopped at now.
func newLedger(t testing.TB, store storage.Store, now time.Time) *ledger.Ledger {
	t.Helper()
	l, err := ledger.New(store, &ledger.Config{Catalog: catalog(), Now: fixed(now)})
	require.NoError(t, err)
	return l
}

func accountID(i int) string { return fmt.Sprintf("acct-%06d", i) }

// seedAccounts puts n accounts on the free plan at t1 (SetPlans: no
// gifts, one plan entry each; each is due for November at the next
// distribution).
func seedAccounts(t testing.TB, store storage.Store, n int) {
	t.Helper()
	l := newLedger(t, store, t1)
	ps := make([]ledger.PlanParams, n)
	for i := range ps {
		ps[i] = ledger.PlanParams{Account: accountID(i), Plan: "free"}
	}
	require.NoError(t, l.SetPlans(context.Background(), ps))
}

// withParams returns dsn with URL query parameters set.
func withParams(t testing.TB, dsn string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// appName returns a fresh PostgreSQL application_name, by which a test
// finds the backends of one pool in pg_stat_activity.
func appName(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// adminDB opens a connection pool to the test database (outside any test
// schema), closed when the test ends.
func adminDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", testdb.DatabaseURL())
	require.NoError(t, err)
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// backends counts the live backends with an application_name.
func backends(t testing.TB, admin *sql.DB, app string) int {
	t.Helper()
	var n int
	require.NoError(t, admin.QueryRowContext(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n))
	return n
}

// waitBackendsGone waits until PostgreSQL has ended every backend of app
// (a killed client's backend ends, rolling back its transaction, once it
// notices the closed socket), so that checks see a settled database.
func waitBackendsGone(t testing.TB, admin *sql.DB, app string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for backends(t, admin, app) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backends of %s still alive 20s after their client died", app)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// queryInt runs a query returning one integer on a store's database.
func queryInt(t testing.TB, s *bunstore.Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.DB().QueryRowContext(context.Background(), query, args...).Scan(&n), query)
	return n
}

// servedCount is how many accounts the distribution at now has served:
// their next grant moved past now.
func servedCount(t testing.TB, s *bunstore.Store, now time.Time) int {
	t.Helper()
	return int(queryInt(t, s, "SELECT count(*) FROM creditledger_accounts WHERE next_grant_at > ?", now))
}

// phase of an account: 0 seeded at t1 and not yet served, 1 served at t1
// (November granted), 2 served at t2 (November expired, December
// granted). accountPhase checks every field of each state exactly and
// returns -1 with the reason for anything else: a half-written chunk, a
// double grant, an expiry written twice. Every phase starts with the plan
// entry SetPlans wrote; the phases count the entries after it.
func accountPhase(d *storage.AccountDump) (int, string) {
	a := &d.Account
	eqt := func(p *time.Time, want time.Time) bool { return p != nil && p.Equal(want) }
	if a.Plan != "free" || !a.Anchor.Equal(t1) {
		return -1, fmt.Sprintf("plan %q anchor %s", a.Plan, a.Anchor)
	}
	if len(d.Entries) == 0 || d.Entries[0].Kind != storage.KindPlan || d.Entries[0].Source != "free" {
		return -1, fmt.Sprintf("%d entries, the first not the plan entry of free", len(d.Entries))
	}
	entries := d.Entries[1:]
	switch a.Seq - 1 {
	case 0:
		if a.Balance == 0 && len(d.Lots) == 0 && len(entries) == 0 && eqt(a.NextGrantAt, t1) && a.NextExpiryAt == nil {
			return 0, ""
		}
	case 1:
		if len(d.Lots) != 1 || len(entries) != 1 {
			break
		}
		lot, e := d.Lots[0], entries[0]
		if a.Balance == planAmount && eqt(a.NextGrantAt, decStart) && a.NextExpiryAt != nil && !a.NextExpiryAt.After(novExpiry) &&
			lot.Amount == planAmount && lot.Remaining == planAmount && lot.Source == planSource && eqt(lot.ExpiresAt, novExpiry) && lot.CreatedAt.Equal(t1) &&
			e.Kind == storage.KindGrant && e.Amount == planAmount && e.BalanceAfter == planAmount && e.LotID == lot.ID {
			return 1, ""
		}
	case 3:
		if len(d.Lots) != 2 || len(entries) != 3 {
			break
		}
		nov, dec := d.Lots[0], d.Lots[1]
		if nov.CreatedAt.After(dec.CreatedAt) {
			nov, dec = dec, nov
		}
		var grants, expires int
		for _, e := range entries {
			switch {
			case e.Kind == storage.KindGrant && e.Amount == planAmount && (e.LotID == nov.ID || e.LotID == dec.ID):
				grants++
			case e.Kind == storage.KindExpire && e.Amount == -planAmount && e.LotID == nov.ID:
				expires++
			}
		}
		if grants == 2 && expires == 1 && a.Balance == planAmount && eqt(a.NextGrantAt, janStart) &&
			a.NextExpiryAt != nil && !a.NextExpiryAt.After(decExpiry) &&
			nov.Amount == planAmount && nov.Remaining == 0 && eqt(nov.ExpiresAt, novExpiry) &&
			dec.Amount == planAmount && dec.Remaining == planAmount && eqt(dec.ExpiresAt, decExpiry) && dec.CreatedAt.Equal(t2) &&
			entries[2].BalanceAfter == planAmount {
			return 2, ""
		}
	}
	return -1, fmt.Sprintf("seq %d balance %d, %d lots, %d entries, next grant %v, next expiry %v",
		a.Seq, a.Balance, len(d.Lots), len(d.Entries), a.NextGrantAt, a.NextExpiryAt)
}

// scanAll calls fn for every account of a store, in ID order.
func scanAll(t testing.TB, s storage.Store, fn func(d *storage.AccountDump)) {
	t.Helper()
	after := ""
	for {
		dumps, err := s.Scan(context.Background(), after, 1000)
		require.NoError(t, err)
		for i := range dumps {
			fn(&dumps[i])
		}
		if len(dumps) < 1000 {
			return
		}
		after = dumps[len(dumps)-1].Account.ID
	}
}

// requirePhases requires that the store holds exactly n accounts, each in
// one of the allowed phases, and returns how many are in each phase.
func requirePhases(t testing.TB, s storage.Store, n int, allowed ...int) map[int]int {
	t.Helper()
	counts := map[int]int{}
	total, bad := 0, 0
	scanAll(t, s, func(d *storage.AccountDump) {
		total++
		p, why := accountPhase(d)
		ok := false
		for _, a := range allowed {
			ok = ok || p == a
		}
		if !ok {
			bad++
			if bad <= 10 {
				t.Errorf("account %s is in no allowed phase %v: %s", d.Account.ID, allowed, why)
			}
			return
		}
		counts[p]++
	})
	require.Zero(t, bad, "accounts in no allowed phase")
	require.Equal(t, n, total, "accounts in the store")
	return counts
}

// requireVerified runs Verify and requires no violation.
func requireVerified(t testing.TB, l *ledger.Ledger) *ledger.VerifyReport {
	t.Helper()
	rep, err := l.Verify(context.Background())
	require.NoError(t, err)
	require.Empty(t, rep.Violations, "Verify found violations")
	return rep
}

// requireSQLPhases is requirePhases done by the database, for the checks
// between kills of a large store: every account must be in one of the
// allowed phases by its balance, seq, next grant time, lots (count, sum of
// remaining) and entries (count by kind, sum); it returns the counts.
func requireSQLPhases(t testing.TB, s *bunstore.Store, n int, allowed ...int) map[int]int {
	t.Helper()
	var p [3]int
	var total int
	err := s.DB().QueryRowContext(context.Background(), `SELECT
  count(*) FILTER (WHERE a.seq = 1 AND a.balance = 0 AND a.next_grant_at = ? AND a.next_expiry_at IS NULL
    AND coalesce(l.n, 0) = 0 AND e.n = 1 AND e.plans = 1),
  count(*) FILTER (WHERE a.seq = 2 AND a.balance = ? AND a.next_grant_at = ? AND a.next_expiry_at <= ?
    AND l.n = 1 AND l.rem = ? AND l.amt = ? AND e.n = 2 AND e.plans = 1 AND e.grants = 1 AND e.total = ?),
  count(*) FILTER (WHERE a.seq = 4 AND a.balance = ? AND a.next_grant_at = ? AND a.next_expiry_at <= ?
    AND l.n = 2 AND l.rem = ? AND l.amt = ? AND e.n = 4 AND e.plans = 1 AND e.grants = 2 AND e.expires = 1 AND e.total = ?),
  count(*)
FROM creditledger_accounts a
LEFT JOIN (SELECT account_id, count(*) AS n, sum(remaining) AS rem, sum(amount) AS amt
  FROM creditledger_lots GROUP BY account_id) l ON l.account_id = a.id
LEFT JOIN (SELECT account_id, count(*) AS n, count(*) FILTER (WHERE kind = 'plan') AS plans, count(*) FILTER (WHERE kind = 'grant') AS grants,
  count(*) FILTER (WHERE kind = 'expire') AS expires, sum(amount) AS total
  FROM creditledger_entries GROUP BY account_id) e ON e.account_id = a.id`,
		t1,
		planAmount, decStart, novExpiry, planAmount, planAmount, planAmount,
		planAmount, janStart, decExpiry, planAmount, 2*planAmount, planAmount,
	).Scan(&p[0], &p[1], &p[2], &total)
	require.NoError(t, err)
	counts := map[int]int{}
	sum := 0
	for _, a := range allowed {
		counts[a] = p[a]
		sum += p[a]
	}
	require.Equal(t, n, total, "accounts in the store")
	require.Equal(t, total, sum, "accounts in no allowed phase %v (phase counts %v)", allowed, p)
	return counts
}

// requireSQLTotals checks, with SQL on the tables, what phase (1 or 2)
// should have written for n accounts: exactly phase grant entries and
// grant operations per account, the credits granted, each lot with its
// expiry, and (phase 2) one expire entry per November lot.
func requireSQLTotals(t testing.TB, s *bunstore.Store, n, phase int) {
	t.Helper()
	require.Zero(t, queryInt(t, s, `SELECT count(*) FROM (SELECT a.id FROM creditledger_accounts a
LEFT JOIN creditledger_entries e ON e.account_id = a.id AND e.kind = 'grant'
GROUP BY a.id HAVING count(e.id) <> ?) x`, phase), "accounts without exactly %d grant entries", phase)
	require.Equal(t, int64(n*phase), queryInt(t, s, "SELECT count(*) FROM creditledger_entries WHERE kind = 'grant' AND idempotency_key IS NOT NULL"), "keyed grant calls")
	require.Equal(t, int64(n*phase)*planAmount, queryInt(t, s, "SELECT coalesce(sum(amount), 0) FROM creditledger_entries WHERE kind = 'grant'"), "credits granted")
	require.Equal(t, int64(n*phase), queryInt(t, s, "SELECT count(*) FROM creditledger_lots WHERE expires_at IS NOT NULL"), "lots with their expiry")
	require.Equal(t, int64(n*phase), queryInt(t, s, "SELECT count(*) FROM creditledger_lots"), "lots")
	wantExpired := int64(0)
	if phase == 2 {
		wantExpired = int64(n)
	}
	require.Equal(t, wantExpired, queryInt(t, s, "SELECT count(*) FROM creditledger_entries WHERE kind = 'expire'"), "expire entries")
	require.Equal(t, wantExpired, queryInt(t, s, "SELECT count(DISTINCT lot_id) FROM creditledger_entries WHERE kind = 'expire'"), "lots expired")
	require.Equal(t, -wantExpired*planAmount, queryInt(t, s, "SELECT coalesce(sum(amount), 0) FROM creditledger_entries WHERE kind = 'expire'"), "credits expired")
}

// reference is a clean, uninterrupted run on the in-memory store: the state
// any interrupted or concurrent run must end in.
type reference struct {
	store *memory.Store
	n     int
}

func newReference(t testing.TB, n int) *reference {
	t.Helper()
	r := &reference{store: memory.New(), n: n}
	seedAccounts(t, r.store, n)
	return r
}

// run distributes at now on the reference, in one call.
func (r *reference) run(t testing.TB, now time.Time) *ledger.DistributeResult {
	t.Helper()
	res, err := newLedger(t, r.store, now).Distribute(context.Background(), &ledger.DistributeOpts{Now: now})
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, r.n, res.Granted)
	return res
}

// requireSame requires that got holds the same accounts, lots and entries
// as the reference, up to generated ids (lots and operations are matched
// by their place in the account's history).
func (r *reference) requireSame(t testing.TB, got storage.Store) {
	t.Helper()
	var want []string
	scanAll(t, r.store, func(d *storage.AccountDump) { want = append(want, fingerprint(d)) })
	i, diffs := 0, 0
	scanAll(t, got, func(d *storage.AccountDump) {
		fp := fingerprint(d)
		if i >= len(want) || fp != want[i] {
			diffs++
			if diffs <= 5 {
				w := "<none>"
				if i < len(want) {
					w = want[i]
				}
				t.Errorf("account #%d differs from the clean run:\n got: %s\nwant: %s", i, fp, w)
			}
		}
		i++
	})
	require.Equal(t, len(want), i, "accounts compared with the clean run")
	require.Zero(t, diffs, "accounts that differ from the clean run")
}

// fingerprint renders an account's whole state without its generated ids.
func fingerprint(d *storage.AccountDump) string {
	a := d.Account
	var b strings.Builder
	tm := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(&b, "%s plan=%s anchor=%s bal=%d seq=%d created=%s next_grant=%s next_expiry=%s",
		a.ID, a.Plan, tm(&a.Anchor), a.Balance, a.Seq, tm(&a.CreatedAt), tm(a.NextGrantAt), tm(a.NextExpiryAt))
	lots := append([]storage.Lot(nil), d.Lots...)
	sort.Slice(lots, func(i, j int) bool {
		if !lots[i].CreatedAt.Equal(lots[j].CreatedAt) {
			return lots[i].CreatedAt.Before(lots[j].CreatedAt)
		}
		return tm(lots[i].ExpiresAt) < tm(lots[j].ExpiresAt)
	})
	lotName := map[string]string{}
	for i, l := range lots {
		lotName[l.ID] = fmt.Sprintf("L%d", i)
		fmt.Fprintf(&b, " | L%d %s amt=%d rem=%d prio=%d exp=%s created=%s", i, l.Source, l.Amount, l.Remaining, l.Priority, tm(l.ExpiresAt), tm(&l.CreatedAt))
	}
	opName := map[string]string{}
	for _, e := range d.Entries {
		if _, ok := opName[e.OperationID]; !ok {
			opName[e.OperationID] = fmt.Sprintf("O%d", len(opName))
		}
		fmt.Fprintf(&b, " | #%d %s %s %s amt=%d after=%d src=%s desc=%q meta=%d created=%s",
			e.Seq, e.Kind, opName[e.OperationID], lotName[e.LotID], e.Amount, e.BalanceAfter, e.Source, e.Description, len(e.Metadata), tm(&e.CreatedAt))
	}
	return b.String()
}

// credits is the decimal of n whole credits.
func credits(n int64) decimal.Decimal { return decimal.NewFromInt(n) }

// noInitStore is a store whose Init does nothing: it lets a ledger run on
// a connection that could not run the migrations (a 1 ms statement
// timeout), on a schema another store has migrated.
type noInitStore struct{ storage.Store }

func (noInitStore) Init(context.Context, int32) error { return nil }
