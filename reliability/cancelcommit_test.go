package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// TestCancelDuringCommit is the regression test of a fixed bug: on
// PostgreSQL, a call whose context was cancelled while its COMMIT was in
// flight returned context.Canceled although the server had committed (a
// Consume reported failure for credits it spent; a Distribute reported
// Granted: 0 for a chunk it wrote). Since 2ecd735 the store runs COMMIT
// detached from the caller's context, in both of its PostgreSQL paths
// (database/sql with NoPreparedStatements, and the pipelined pgx one).
//
// What holds now, and what the test asserts: a cancellation that reaches
// the call while its COMMIT is in flight does not cut the COMMIT short.
// The call waits for the server's answer and reports it: Consume succeeds
// and the credits are spent exactly once; Distribute returns
// context.Canceled (it starts no further chunk) with Granted equal to what
// the database holds, the committed chunk included.
//
// The proxy makes the timing exact: it holds back the server's answers for
// 300 ms once a COMMIT (simple or extended protocol) has been forwarded,
// and the context is cancelled at that moment. The test also checks that
// this happened, so that it cannot pass without a cancellation.
func TestCancelDuringCommit(t *testing.T) {
	testdb.SkipWithoutPostgres(t)
	t.Parallel()

	admin := adminDB(t)
	// cancelAtCommit runs call with a context that is cancelled as soon as
	// the proxy has forwarded a COMMIT to the server, and reports whether
	// that happened. It returns once no backend of app is in a transaction
	// any more, so that the COMMIT has been processed before the test
	// looks.
	cancelAtCommit := func(t *testing.T, p *proxy, app string, call func(ctx context.Context) error) (error, bool) {
		defer func() {
			deadline := time.Now().Add(20 * time.Second)
			for {
				var busy int
				require.NoError(t, admin.QueryRow(`SELECT count(*) FROM pg_stat_activity
WHERE application_name = $1 AND state <> 'idle'`, app).Scan(&busy))
				if busy == 0 {
					return
				}
				require.True(t, time.Now().Before(deadline), "a backend of the cancelled call is still in its transaction")
				time.Sleep(5 * time.Millisecond)
			}
		}()
		hold := make(chan struct{}, 1)
		p.setHoldCommit(hold, 300*time.Millisecond)
		defer p.setHoldCommit(nil, 0)
		ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
		defer cancel()
		var fired atomic.Bool
		go func() {
			select {
			case <-hold:
				fired.Store(true)
				cancel()
			case <-ctx.Done():
			}
		}()
		err := call(ctx)
		cancel()
		return err, fired.Load()
	}

	for _, path := range []struct {
		name string
		opts *bunstore.Options
	}{
		{"pipelined", nil},
		{"text", &bunstore.Options{NoPreparedStatements: true}},
	} {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()

			t.Run("consume", func(t *testing.T) {
				t.Parallel()
				dsn := testdb.PostgresDSN(t)
				direct := newLedger(t, testdb.Open(t, dsn), t1)
				app := appName("crlg_commit")
				p, proxied := startProxy(t, withParams(t, dsn, "application_name", app))
				l := newLedger(t, testdb.OpenWith(t, proxied, path.opts), t1)
				_, err := direct.Grant(context.Background(), ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: credits(100)})
				require.NoError(t, err)

				err, fired := cancelAtCommit(t, p, app, func(ctx context.Context) error {
					_, err := l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: credits(10), IdempotencyKey: "c"})
					return err
				})
				require.True(t, fired, "the context was cancelled while COMMIT was in flight")
				require.NoError(t, err, "the COMMIT was sent: the call waits for it and reports success")
				bal, err := direct.Balance(context.Background(), "u")
				require.NoError(t, err)
				require.Equal(t, "90", bal.Available.String(), "spent once")
				// A retry with the key replays instead of spending again.
				rec, err := direct.Consume(context.Background(), ledger.ConsumeParams{Account: "u", Amount: credits(10), IdempotencyKey: "c"})
				require.NoError(t, err)
				require.True(t, rec.Replayed)
				require.Equal(t, "90", rec.Balance.String())
			})

			t.Run("distribute", func(t *testing.T) {
				t.Parallel()
				const n = 200
				dsn := testdb.PostgresDSN(t)
				check := testdb.Open(t, dsn)
				seedAccounts(t, check, n)
				app := appName("crlg_commit")
				p, proxied := startProxy(t, withParams(t, dsn, "application_name", app))
				l := newLedger(t, testdb.OpenWith(t, proxied, path.opts), t1)

				var res *ledger.DistributeResult
				err, fired := cancelAtCommit(t, p, app, func(ctx context.Context) error {
					var err error
					res, err = l.Distribute(ctx, &ledger.DistributeOpts{Now: t1, ChunkSize: 50})
					return err
				})
				require.True(t, fired, "the context was cancelled while a chunk's COMMIT was in flight")
				require.ErrorIs(t, err, context.Canceled, "no chunk is started after the cancellation")
				require.False(t, res.Complete)
				served := servedCount(t, check, t1)
				require.Positive(t, served, "the chunk whose COMMIT was in flight committed")
				require.Equal(t, res.Granted, served, "Distribute reports exactly what the database holds")
				requireSQLPhases(t, check, n, 0, 1)

				// The next call grants the rest, each account once.
				res, err = newLedger(t, check, t1).Distribute(context.Background(), &ledger.DistributeOpts{Now: t1})
				require.NoError(t, err)
				require.True(t, res.Complete)
				require.Equal(t, n-served, res.Granted)
				requireSQLTotals(t, check, n, 1)
			})
		})
	}
}

// commitHook is a bun query hook that runs onCommit just before bun hands
// a transaction's COMMIT to database/sql, and afterCommit just after.
type commitHook struct {
	mu                    sync.Mutex
	onCommit, afterCommit func()
}

func (h *commitHook) set(on, after func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onCommit, h.afterCommit = on, after
}

func (h *commitHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if e.Query == "COMMIT" {
		h.mu.Lock()
		f := h.onCommit
		h.mu.Unlock()
		if f != nil {
			f()
		}
	}
	return ctx
}

func (h *commitHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Query == "COMMIT" {
		h.mu.Lock()
		f := h.afterCommit
		h.mu.Unlock()
		if f != nil {
			f()
		}
	}
}

// TestCancelDuringCommitSQLite is what holds on SQLite, where the store
// keeps database/sql's own handling (a transaction is rolled back when its
// context ends; COMMIT is local, so there is no acknowledgement to lose):
//
//   - cancelled just before COMMIT: database/sql rolls the transaction
//     back; the call fails and nothing is written;
//   - cancelled just after COMMIT: the call succeeds, written once;
//   - cancelled at a random instant around COMMIT (0-300 µs after it
//     starts, 300 consumes): each call is either a failure that wrote
//     nothing or a success that spent once. Never a failure that spent.
func TestCancelDuringCommitSQLite(t *testing.T) {
	t.Parallel()
	store := testdb.Open(t, testdb.SQLitePath(t))
	hook := &commitHook{}
	store.DB().AddQueryHook(hook)
	l := newLedger(t, store, t1)
	bg := context.Background()
	_, err := l.Grant(bg, ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: credits(100_000)})
	require.NoError(t, err)
	balance := func() int64 {
		b, err := l.Balance(bg, "u")
		require.NoError(t, err)
		return b.Available.IntPart()
	}
	consume := func(ctx context.Context, key string) error {
		_, err := l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: credits(10), IdempotencyKey: key})
		return err
	}

	t.Run("before commit", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		hook.set(func() {
			cancel()
			// Give database/sql's watcher the time to roll back.
			time.Sleep(20 * time.Millisecond)
		}, nil)
		defer hook.set(nil, nil)
		before := balance()
		err := consume(ctx, "before")
		require.Error(t, err)
		t.Logf("error of a consume cancelled just before COMMIT: %v", err)
		require.Equal(t, before, balance(), "nothing was written")
	})

	t.Run("after commit", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		hook.set(nil, cancel)
		defer hook.set(nil, nil)
		before := balance()
		require.NoError(t, consume(ctx, "after"), "a call whose COMMIT succeeded reports success")
		require.Equal(t, before-10, balance())
	})

	t.Run("racing", func(t *testing.T) {
		rng := newRNG(t)
		const calls = 300
		failed, succeeded := 0, 0
		for i := range calls {
			ctx, cancel := context.WithCancel(bg)
			delay := time.Duration(rng.IntN(301)) * time.Microsecond
			hook.set(func() { time.AfterFunc(delay, cancel) }, nil)
			before := balance()
			err := consume(ctx, fmt.Sprintf("race-%d", i))
			cancel()
			after := balance()
			if err != nil {
				require.False(t, errors.Is(err, ledger.ErrInsufficientCredits), "%v", err)
				require.Equal(t, before, after, "call %d failed (%v) but spent", i, err)
				failed++
			} else {
				require.Equal(t, before-10, after, "call %d succeeded", i)
				succeeded++
			}
		}
		hook.set(nil, nil)
		t.Logf("%d consumes cancelled around COMMIT: %d failed and wrote nothing, %d succeeded and spent once", calls, failed, succeeded)
		requireVerified(t, l)
	})
}
