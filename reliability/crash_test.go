package reliability_test

import (
	"context"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// TestCrashResume kills worker processes running Distribute with SIGKILL
// at random moments, then lets one run to completion, and requires the
// end state to be that of one clean run. It does so twice: at t1 (every
// account is owed November's grant) and at t2 (November's lots expire and
// December's grants are owed), so that both grants and expiries are
// interrupted. After every kill, every account must be wholly served or
// wholly still due: no chunk is ever half-written.
func TestCrashResume(t *testing.T) {
	testdb.SkipWithoutPostgres(t)
	t.Parallel()
	sz := cfg()
	rng := newRNG(t)
	n := sz.crashAccounts

	dsn := testdb.PostgresDSN(t)
	s := testdb.Open(t, dsn)
	admin := adminDB(t)
	t0 := time.Now()
	seedAccounts(t, s, n)
	requirePhases(t, s, n, 0)
	requireSQLPhases(t, s, n, 0)
	t.Logf("seeded %d accounts in %s", n, time.Since(t0).Round(time.Millisecond))
	ref := newReference(t, n)

	totalKills, inTx := 0, 0
	for phase, now := range []time.Time{t1, t2} {
		phase++
		// The kills land at random points of the run: worker k is killed
		// once the served accounts reach the k-th of sorted random targets,
		// plus a random 0-20 ms so that the kill falls anywhere inside a
		// chunk (a claim, a load, the apply, the commit).
		// Targets stay below 90% of the accounts, so that the final run has
		// work left too.
		targets := make([]int, sz.crashKills)
		for i := range targets {
			targets[i] = 1 + rng.IntN(n*9/10)
		}
		sort.Ints(targets)
		killed := 0
		for k, target := range targets {
			app := appName("crlg_crash")
			w := startWorker(t, withParams(t, dsn, "application_name", app), now, sz.crashChunk, false)
			w.awaitReady(t)
			waited := time.Now()
			for servedCount(t, s, now) < target && time.Since(waited) < runDeadline {
				select {
				case <-w.done:
				case <-time.After(5 * time.Millisecond):
					continue
				}
				break
			}
			time.Sleep(time.Duration(rng.IntN(20_001)) * time.Microsecond)
			// Where the worker is at the kill: in a transaction ("active" or
			// "idle in transaction") or between them.
			var state string
			require.NoError(t, admin.QueryRow(`SELECT coalesce(string_agg(state, ','), 'idle or none')
FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'`, app).Scan(&state))
			byKill := w.kill(t)
			if state != "idle or none" {
				inTx++
			}
			waitBackendsGone(t, admin, app)
			counts := requireSQLPhases(t, s, n, phase-1, phase)
			if byKill {
				killed++
			}
			t.Logf("phase %d kill %d/%d: target %d served, SIGKILL after %s, its backend then %s: killed=%v, then %d served and %d due, none half-written",
				phase, k+1, len(targets), target, time.Since(waited).Round(time.Millisecond), state, byKill, counts[phase], counts[phase-1])
			require.True(t, byKill || counts[phase] == n, "a worker exited by itself before finishing: %v\n%s", w.waitErr, w.stderr.String())
		}
		totalKills += killed
		before := servedCount(t, s, now)
		w := startWorker(t, withParams(t, dsn, "application_name", appName("crlg_crash")), now, sz.crashChunk, false)
		w.awaitReady(t)
		res := w.finish(t)
		require.True(t, res.Complete, "the final run completes")
		require.Positive(t, res.Granted, "the killed runs left work for the final one")
		require.Zero(t, res.Errors)
		require.Equal(t, n-before, res.Granted, "the final run grants what the killed ones left")
		if phase == 2 {
			// Every account had its November lot expired, by this run or a
			// killed one; the final run reports those it expired itself.
			require.Equal(t, n-before, res.Expired)
		}
		t.Logf("phase %d: %d of %d workers killed mid-run; the final run granted %d lots (%s credits) and expired %d",
			phase, killed, len(targets), res.Granted, res.GrantedCredits, res.Expired)

		requirePhases(t, s, n, phase)
		requireSQLPhases(t, s, n, phase)
		requireSQLTotals(t, s, n, phase)
		granted, expired := requireEventsOfHistory(t, s)
		require.Equal(t, n*phase, granted, "a credits.granted event per lot granted, once")
		require.Equal(t, n*(phase-1), expired, "a credits.expired event per lot expired, once")
		rep := requireVerified(t, newLedger(t, s, now))
		ref.run(t, now)
		ref.requireSame(t, s)
		t.Logf("phase %d end state = clean run: %d accounts, %d lots, %d entries, Verify clean", phase, rep.Accounts, rep.Lots, rep.Entries)
	}
	t.Logf("crash and resume: %d accounts, %d SIGKILLs survived (%d of them inside a transaction), 0 violations", n, totalKills, inTx)
}

// cancelRounds is the number of interrupted calls of TestCancelMidRun
// before the call that must complete.
const cancelRounds = 6

// How TestCancelMidRun cancels a call.
const (
	cancelAsync    = iota // from a goroutine, a random 0-300 µs after the k-th commit: wherever it lands
	cancelBetween         // after the k-th commit, before the next chunk begins
	cancelInChunk         // inside the next chunk's transaction, after its claim and load, before its writes
	cancelDeadline        // a context deadline 1-10 ms away
	cancelModes
)

// cancelStore cancels a context from another goroutine once k of its
// transactions have committed, at the moment its mode says.
type cancelStore struct {
	storage.Store
	mode    int
	after   int64 // k
	delay   time.Duration
	cancel  context.CancelFunc
	commits atomic.Int64
	fired   atomic.Bool
}

// fire cancels from another goroutine and waits until ctx sees it.
func (s *cancelStore) fire(ctx context.Context) {
	if s.fired.Swap(true) {
		return
	}
	go s.cancel()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		panic("cancel did not reach the context")
	}
}

func (s *cancelStore) Tx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) error {
	if s.mode == cancelBetween && s.commits.Load() >= s.after {
		s.fire(ctx)
	}
	err := s.Store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		return fn(ctx, &cancelTx{Tx: tx, s: s})
	})
	if err == nil && s.commits.Add(1) == s.after && s.mode == cancelAsync {
		go func() {
			time.Sleep(s.delay)
			s.cancel()
		}()
	}
	return err
}

type cancelTx struct {
	storage.Tx
	s *cancelStore
}

func (t *cancelTx) Apply(ctx context.Context, b *storage.Batch) error {
	if t.s.mode == cancelInChunk && t.s.commits.Load() >= t.s.after {
		t.s.fire(ctx)
	}
	return t.Tx.Apply(ctx, b)
}

// TestCancelMidRun cancels Distribute's context from another goroutine
// after its first chunks (or lets a short deadline expire), on every kind
// of store, again and again until the work is done. Each call must return
// context.Canceled (or, for a deadline, Complete false and no error), leave
// every account wholly served or still due, report exactly what it
// committed, and a following call must complete the work.
func TestCancelMidRun(t *testing.T) {
	t.Parallel()
	for _, kind := range testdb.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			t.Parallel()
			sz := cfg()
			rng := newRNG(t)
			n := sz.cancelAccounts
			s := kind.New(t)
			seedAccounts(t, s, n)
			l := newLedger(t, s, t1)
			opts := &ledger.DistributeOpts{Now: t1, ChunkSize: sz.cancelChunk}
			reported, cancels := 0, 0
			modes := make([]int, cancelModes)
			for round := 0; round < cancelRounds; round++ {
				ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
				var res *ledger.DistributeResult
				var err error
				mode := rng.IntN(cancelModes)
				if round == 0 {
					// The first call is cancelled from inside the run
					// (between chunks or within one), which always lands:
					// an asynchronous cancel or a deadline can come after
					// a fast run has served everything (seen on the memory
					// store under load), and then no call is left to cancel.
					mode = cancelBetween + rng.IntN(2)
				}
				modes[mode]++
				if mode == cancelDeadline {
					dctx, dcancel := context.WithTimeout(ctx, time.Duration(1+rng.IntN(10))*time.Millisecond)
					res, err = l.Distribute(dctx, opts)
					dcancel()
					require.NoError(t, err, "a reached deadline is not an error")
				} else {
					cs := &cancelStore{Store: s, mode: mode, after: int64(1 + rng.IntN(2)), delay: time.Duration(rng.IntN(300)) * time.Microsecond, cancel: cancel}
					res, err = l.WithStore(cs).Distribute(ctx, opts)
					if err != nil {
						require.ErrorIs(t, err, context.Canceled, "a cancelled run returns ctx.Err() (mode %d): %v", mode, err)
						require.False(t, res.Complete)
						cancels++
					} else {
						require.True(t, res.Complete, "no error: the run finished before the cancel")
					}
				}
				cancel()
				require.NotNil(t, res, "the result so far comes with the error")
				reported += res.Granted
				counts := requirePhases(t, s, n, 0, 1)
				// What the calls reported is exactly what they committed: a
				// cancellation never cuts a COMMIT short (see
				// TestCancelDuringCommit), so no committed chunk goes
				// unreported.
				require.Equal(t, reported, counts[1], "the calls reported what they committed (mode %d)", mode)
				if res.Complete {
					break
				}
			}
			require.Positive(t, cancels, "no call was cancelled mid-run")
			final, err := l.Distribute(context.Background(), opts)
			require.NoError(t, err)
			require.True(t, final.Complete)
			require.Equal(t, n-reported, final.Granted)
			requirePhases(t, s, n, 1)
			rep := requireVerified(t, l)
			ref := newReference(t, n)
			ref.run(t, t1)
			ref.requireSame(t, s)
			t.Logf("%s: %d accounts; calls by mode (async, between chunks, inside a chunk, deadline): %v; %d returned context.Canceled; the final call granted %d; Verify clean over %d entries",
				kind.Name, n, modes, cancels, final.Granted, rep.Entries)
		})
	}
}
