package reliability_test

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// outcome is what one Distribute call returned.
type outcome struct {
	res *ledger.DistributeResult
	err error
}

// goDistribute runs Distribute in a goroutine; the channel gets its
// outcome.
func goDistribute(ctx context.Context, l *ledger.Ledger, opts *ledger.DistributeOpts) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		res, err := l.Distribute(ctx, opts)
		ch <- outcome{res, err}
	}()
	return ch
}

// awaitProgress waits until the distribution at now has served 1 to 4
// chunks more than before, then a random 0-10 ms more, so that the fault
// lands at a random point of a later chunk. It returns false if the call
// ended first (then the caller reads its outcome from running).
func awaitProgress(t testing.TB, check *bunstore.Store, now time.Time, before, chunk int, running <-chan outcome, rng *rand.Rand) bool {
	t.Helper()
	target := before + chunk*(1+rng.IntN(4))
	deadline := time.Now().Add(runDeadline)
	for servedCount(t, check, now) < target {
		if len(running) > 0 || time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(10_001)) * time.Microsecond)
	return true
}

// faultBook keeps what the faulted calls reported against what the
// database holds.
type faultBook struct {
	n, chunk  int
	inFlight  int // chunks one call may have in flight (the store's MaxParallelTx)
	reported  int // lots the calls reported granting
	ambiguous int // chunks committed by a call that then reported an error
}

// settle checks the database after a fault: every account wholly served
// or still due, and the calls' reports matching what was committed, up to
// the chunks a faulted call had in flight whose commits reached the
// database although the client saw an error.
func (b *faultBook) settle(t testing.TB, check *bunstore.Store, o outcome) map[int]int {
	t.Helper()
	require.NotNil(t, o.res, "the result so far comes with the error")
	b.reported += o.res.Granted
	counts := requirePhases(t, check, b.n, 0, 1)
	require.GreaterOrEqual(t, counts[1], b.reported, "fewer grants in the database than the calls reported")
	if counts[1] > b.reported {
		require.NotNil(t, o.err, "a successful call reported less than it wrote")
		require.LessOrEqual(t, counts[1]-b.reported, b.chunk*b.inFlight, "more chunks unreported than the call had in flight")
		b.ambiguous++
		b.reported = counts[1]
	}
	return counts
}

// requireClearFailure requires a faulted Distribute to have failed with
// an error that names the chunk and is not one of the ledger's business
// errors (a database fault must never look like "insufficient credits").
func requireClearFailure(t testing.TB, err error) {
	t.Helper()
	require.ErrorContains(t, err, "creditledger: distribution chunk after account")
	for _, biz := range []error{ledger.ErrInsufficientCredits, ledger.ErrIdempotencyConflict, ledger.ErrInvalidAmount,
		ledger.ErrInvalidArgument, ledger.ErrNotFound, ledger.ErrUnknownPlan} {
		require.NotErrorIs(t, err, biz)
	}
}

// finishFaulted runs the call that must complete after the faults, and
// requires the end state of one clean run.
func finishFaulted(t testing.TB, l *ledger.Ledger, check *bunstore.Store, b *faultBook, opts *ledger.DistributeOpts) *ledger.DistributeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	res, err := l.Distribute(ctx, opts)
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, b.n-b.reported, res.Granted, "the last call grants exactly what the faulted ones left")
	requirePhases(t, check, b.n, 1)
	requireSQLTotals(t, check, b.n, 1)
	requireVerified(t, newLedger(t, check, t1))
	ref := newReference(t, b.n)
	ref.run(t, t1)
	ref.requireSame(t, check)
	return res
}

// terminateBackends terminates backends of app and returns their pids.
// The pids are read first and terminated one by one: a WHERE clause that
// calls pg_terminate_backend may be evaluated before the filter on
// application_name, and would end every backend of the server.
//
// It aims at backends between two statements of a transaction ("idle in
// transaction": the chunk is being staged): the store heals a connection
// that dies while idle in the pool or during its transaction's first
// round trip (it runs the transaction again on another connection, since
// nothing of it can have happened), so killing those would often fault
// nothing. It waits up to 200 ms for such a backend, then takes every
// backend of app.
func terminateBackends(t testing.TB, admin *sql.DB, app string) []int {
	t.Helper()
	pids := appBackends(t, admin, app, true)
	for deadline := time.Now().Add(200 * time.Millisecond); len(pids) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Microsecond)
		pids = appBackends(t, admin, app, true)
	}
	if len(pids) == 0 {
		pids = appBackends(t, admin, app, false)
	}
	var killed []int
	for _, pid := range pids {
		var ok bool
		require.NoError(t, admin.QueryRow("SELECT pg_terminate_backend($1)", pid).Scan(&ok))
		if ok {
			killed = append(killed, pid)
		}
	}
	return killed
}

// appBackends returns the pids of app's backends; with inTx, only those
// idle between two statements of a transaction.
func appBackends(t testing.TB, admin *sql.DB, app string, inTx bool) []int {
	t.Helper()
	query := "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()"
	if inTx {
		query += " AND state = 'idle in transaction'"
	}
	rows, err := admin.Query(query, app)
	require.NoError(t, err)
	var pids []int
	for rows.Next() {
		var pid int
		require.NoError(t, rows.Scan(&pid))
		pids = append(pids, pid)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	return pids
}

// waitTerminatedGone waits until the terminated backends have ended
// (rolling back their transactions) and no other backend of app is busy,
// so that checks see a settled database. The store may have opened a new
// connection meanwhile (a transaction that finds a pooled connection dead
// at its first round trip runs on another): that one may stay, idle.
func waitTerminatedGone(t testing.TB, admin *sql.DB, app string, pids []int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var left int
		require.NoError(t, admin.QueryRow(`SELECT count(*) FROM pg_stat_activity
WHERE application_name = $1 AND (pid = ANY($2) OR state <> 'idle')`, app, pids).Scan(&left))
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backends of %s still alive or busy 20s after they were terminated", app)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTerminateBackend kills the database connections of a running
// Distribute with pg_terminate_backend from an admin connection, at random
// moments. Each faulted call returns a clear error (or completes, if only
// idle connections died: a transaction that finds its pooled connection
// dead at its first round trip runs again on another), writes nothing
// partial, and the next call completes with every account granted once.
// A call that completes serves every account left, which ends the rounds.
func TestTerminateBackend(t *testing.T) {
	testdb.SkipWithoutPostgres(t)
	t.Parallel()
	sz, rng := cfg(), newRNG(t)
	dsn := testdb.PostgresDSN(t)
	app := appName("crlg_term")
	s := testdb.Open(t, withParams(t, dsn, "application_name", app))
	check := testdb.Open(t, dsn)
	admin := adminDB(t)
	seedAccounts(t, check, sz.faultAccounts)
	l := newLedger(t, s, t1)
	// Each faulted call has a budget, so that one that absorbs its fault
	// (see terminateBackends) leaves accounts for the next rounds.
	opts := &ledger.DistributeOpts{Now: t1, ChunkSize: sz.faultChunk, Budget: faultBudget}
	b := &faultBook{n: sz.faultAccounts, chunk: sz.faultChunk, inFlight: s.MaxParallelTx()}
	failed, absorbed, terminated, stale := 0, 0, 0, 0
	round := 0
	// The rounds asked for, and more until a fault has failed a call (at
	// most four times as many).
	for round < sz.faultRounds || (failed == 0 && round < 4*sz.faultRounds) {
		before := servedCount(t, check, t1)
		if before == b.n {
			t.Logf("round %d: every account is served; no round left", round+1)
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
		running := goDistribute(ctx, l, opts)
		if !awaitProgress(t, check, t1, before, sz.faultChunk, running, rng) {
			// It ended before the fault: on its budget, or at once on
			// a connection a previous fault left dead.
			o := <-running
			cancel()
			if o.err != nil {
				requireClearFailure(t, o.err)
				stale++
				require.Less(t, stale, 20, "calls keep failing before any fault: %v", o.err)
			}
			b.settle(t, check, o)
			continue
		}
		round++
		pids := terminateBackends(t, admin, app)
		killed := len(pids)
		o := <-running
		cancel()
		terminated += killed
		if o.err != nil {
			requireClearFailure(t, o.err)
			failed++
		} else {
			// The store healed the connection (the kill came before the
			// transaction's first answer, or after its commit), and the
			// call went on to its budget or its end.
			absorbed++
		}
		waitTerminatedGone(t, admin, app, pids)
		counts := b.settle(t, check, o)
		t.Logf("round %d: terminated %d backends; the call returned %v; %d served, %d due, none half-written", round, killed, o.err, counts[1], counts[0])
	}
	require.Positive(t, failed, "no terminated call failed: the faults missed the runs")
	res := finishFaulted(t, l, check, b, &ledger.DistributeOpts{Now: t1, ChunkSize: sz.faultChunk})
	t.Logf("pg_terminate_backend: %d rounds, %d backends terminated, %d running calls failed with a clear error, %d absorbed the fault, %d more calls failed at once on a connection the previous fault killed, %d commits acknowledged to no one; the next call granted the remaining %d; 0 violations",
		round, terminated, failed, absorbed, stale, b.ambiguous, res.Granted)
}

// faultBudget is the budget of a faulted Distribute call in
// TestTerminateBackend.
const faultBudget = 300 * time.Millisecond

// TestStatementTimeout runs Distribute on connections with a statement
// timeout: 1 ms from the start (options=-c statement_timeout=1ms in the
// DSN), and 300 ms while an admin transaction holds a lock on the lots
// table mid-run, so that a chunk's writes wait and time out after it has
// claimed and loaded. Each call fails with the database's timeout error,
// writes nothing partial, and the next call on a normal store completes.
func TestStatementTimeout(t *testing.T) {
	testdb.SkipWithoutPostgres(t)
	t.Parallel()
	sz, rng := cfg(), newRNG(t)
	dsn := testdb.PostgresDSN(t)
	check := testdb.Open(t, dsn)
	seedAccounts(t, check, sz.faultAccounts)
	normal := newLedger(t, check, t1)
	b := &faultBook{n: sz.faultAccounts, chunk: sz.faultChunk, inFlight: check.MaxParallelTx()}
	requireTimeout := func(err error) {
		t.Helper()
		requireClearFailure(t, err)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "the database's error is kept: %v", err)
		require.Equal(t, "57014", pgErr.Code, "query_canceled (statement timeout): %v", err)
	}

	// 1 ms from the start. The store cannot run the migrations in 1 ms, so
	// its ledger skips Init (the schema is migrated already).
	fast := testdb.Open(t, withParams(t, dsn, "options", "-c statement_timeout=1ms"))
	lf, err := ledger.New(noInitStore{fast}, &ledger.Config{Catalog: catalog(), Now: fixed(t1)})
	require.NoError(t, err)
	var o outcome
	o.res, o.err = lf.Distribute(context.Background(), &ledger.DistributeOpts{Now: t1, ChunkSize: sz.faultAccounts})
	requireTimeout(o.err)
	counts := b.settle(t, check, o)
	t.Logf("statement_timeout=1ms: %v; %d served", o.err, counts[1])

	// 300 ms, with the lots table locked mid-run.
	slow := testdb.Open(t, withParams(t, dsn, "options", "-c statement_timeout=300ms"))
	ls, err := ledger.New(noInitStore{slow}, &ledger.Config{Catalog: catalog(), Now: fixed(t1)})
	require.NoError(t, err)
	opts := &ledger.DistributeOpts{Now: t1, ChunkSize: sz.faultChunk}
	for round := range sz.faultRounds {
		ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
		before := servedCount(t, check, t1)
		running := goDistribute(ctx, ls, opts)
		if !awaitProgress(t, check, t1, before, sz.faultChunk, running, rng) {
			t.Fatalf("the call ended before the lock: %v", (<-running).err)
		}
		conn, err := check.DB().Conn(ctx)
		require.NoError(t, err)
		lockTx, err := conn.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = lockTx.ExecContext(ctx, "LOCK TABLE creditledger_lots IN EXCLUSIVE MODE")
		require.NoError(t, err)
		o := <-running
		require.NoError(t, lockTx.Rollback())
		require.NoError(t, conn.Close())
		cancel()
		requireTimeout(o.err)
		counts := b.settle(t, check, o)
		t.Logf("round %d: lots locked mid-run: the call granted %d then failed: %v; %d served, %d due, none half-written",
			round+1, o.res.Granted, o.err, counts[1], counts[0])
	}
	res := finishFaulted(t, normal, check, b, opts)
	t.Logf("statement timeouts: %d faulted calls, %d commits acknowledged to no one; the next call on a normal store granted the remaining %d; 0 violations",
		sz.faultRounds+1, b.ambiguous, res.Granted)
}

// TestServerUnreachable puts a TCP proxy between the ledger and PostgreSQL
// and cuts it mid-run: every connection closed and new ones refused for a
// moment (50-300 ms). The running call fails with a clear error, a call
// made while the server is unreachable fails at once with the refused
// connection, nothing partial is written, and once the proxy is back the
// same ledger (same pool) completes the work.
func TestServerUnreachable(t *testing.T) {
	testdb.SkipWithoutPostgres(t)
	t.Parallel()
	sz, rng := cfg(), newRNG(t)
	dsn := testdb.PostgresDSN(t)
	check := testdb.Open(t, dsn)
	seedAccounts(t, check, sz.faultAccounts)
	p, proxied := startProxy(t, dsn)
	s := testdb.Open(t, proxied)
	l := newLedger(t, s, t1)
	opts := &ledger.DistributeOpts{Now: t1, ChunkSize: sz.faultChunk}
	b := &faultBook{n: sz.faultAccounts, chunk: sz.faultChunk, inFlight: s.MaxParallelTx()}
	failed, staleTotal := 0, 0
	var down time.Duration
	for round := 1; round <= sz.faultRounds; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
		before := servedCount(t, check, t1)
		running := goDistribute(ctx, l, opts)
		if !awaitProgress(t, check, t1, before, sz.faultChunk, running, rng) {
			t.Fatalf("the call ended before the cut: %v", (<-running).err)
		}
		p.cut()
		cutAt := time.Now()
		o := <-running
		if o.err != nil {
			requireClearFailure(t, o.err)
			failed++
		} else {
			require.True(t, o.res.Complete)
		}
		b.settle(t, check, o)

		// While it is down, calls fail at once and say why: the first ones
		// may meet a pooled connection that died with the cut ("unexpected
		// EOF": pgx checks an idle connection only after a second), then
		// the refused connection shows.
		var res2 *ledger.DistributeResult
		var err2 error
		stale := 0
		for range 10 {
			res2, err2 = l.Distribute(ctx, opts)
			requireClearFailure(t, err2)
			require.Zero(t, res2.Granted)
			b.settle(t, check, outcome{res2, err2})
			if errors.Is(err2, syscall.ECONNREFUSED) {
				break
			}
			stale++
		}
		require.ErrorIs(t, err2, syscall.ECONNREFUSED, "the refused connection is in the error")
		staleTotal += stale
		counts := requirePhases(t, check, b.n, 0, 1)

		time.Sleep(time.Duration(50+rng.IntN(251)) * time.Millisecond)
		p.restore()
		down += time.Since(cutAt)
		cancel()
		t.Logf("round %d: cut mid-run: %v; while down: %d calls met a dead pooled connection, then: %v; %d served, %d due, none half-written", round, o.err, stale, err2, counts[1], counts[0])
	}
	require.Positive(t, failed, "no cut call failed: the faults missed the runs")
	res := finishFaulted(t, l, check, b, opts)
	t.Logf("server unreachable: %d cuts (%s down in all), %d running calls failed clearly, %d calls while down met a dead pooled connection and %d the refused connection, %d commits acknowledged to no one; the same pool then granted the remaining %d; 0 violations",
		sz.faultRounds, down.Round(time.Millisecond), failed, staleTotal, sz.faultRounds, b.ambiguous, res.Granted)
}
