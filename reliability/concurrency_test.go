package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// TestConcurrentProcesses starts several worker processes (five by
// default) that run Distribute at the same moment on one PostgreSQL schema,
// at t1 and again at t2. They must share the work: the sums of what they
// report equal one run's (each account granted once, each November lot
// expired once), and the end state equals a clean run's.
func TestConcurrentProcesses(t *testing.T) {
	testdb.SkipWithoutPostgres(t)
	t.Parallel()
	sz := cfg()
	n := sz.procAccounts
	dsn := testdb.PostgresDSN(t)
	s := testdb.Open(t, dsn)
	admin := adminDB(t)
	seedAccounts(t, s, n)
	ref := newReference(t, n)
	for phase, now := range []time.Time{t1, t2} {
		phase++
		app := appName("crlg_procs")
		workers := make([]*worker, sz.procs)
		for i := range workers {
			workers[i] = startWorker(t, withParams(t, dsn, "application_name", app), now, sz.procChunk, true)
		}
		for _, w := range workers {
			w.awaitReady(t)
		}
		start := time.Now()
		for _, w := range workers {
			w.start(t)
		}
		var granted, expired, accounts, errs, busy int
		credits := decimal.Zero
		var shares []string
		for _, w := range workers {
			res := w.finish(t)
			require.True(t, res.Complete, "every worker completes")
			granted += res.Granted
			expired += res.Expired
			accounts += res.Accounts
			errs += res.Errors
			credits = credits.Add(res.GrantedCredits)
			if res.Granted > 0 {
				busy++
			}
			shares = append(shares, fmt.Sprint(res.Granted))
		}
		elapsed := time.Since(start)
		waitBackendsGone(t, admin, app)
		require.Zero(t, errs)
		require.Equal(t, n, granted, "the workers' grants add up to one run's")
		require.True(t, credits.Equal(decimal.NewFromInt(int64(n)*planAmount)), "credits granted: %s", credits)
		require.Equal(t, n, accounts, "each account examined by one worker")
		if phase == 2 {
			require.Equal(t, n, expired, "the workers' expiries add up to one run's")
		}
		requirePhases(t, s, n, phase)
		requireSQLTotals(t, s, n, phase)
		rep := requireVerified(t, newLedger(t, s, now))
		ref.run(t, now)
		ref.requireSame(t, s)
		t.Logf("phase %d: %d processes at once over %d accounts in %s: grants per process [%s] (%d did work), sum %d = accounts, %d expired; end state = clean run, Verify clean over %d entries",
			phase, sz.procs, n, elapsed.Round(time.Millisecond), strings.Join(shares, " "), busy, granted, expired, rep.Entries)
	}
}

// TestConcurrentConsumers has many goroutines consume from one account at
// once on PostgreSQL, through two stores (two connection pools, as two
// replicas would): exactly floor(balance/amount) succeed, the others get
// ErrInsufficientCredits and nothing else, and the books balance. Then many
// goroutines repeat one consume with the same idempotency key: exactly one
// writes, every other call replays its receipt.
func TestConcurrentConsumers(t *testing.T) {
	testdb.SkipWithoutPostgres(t)
	t.Parallel()
	sz := cfg()
	ctx := context.Background()
	dsn := testdb.PostgresDSN(t)
	s1, s2 := testdb.Open(t, dsn), testdb.Open(t, dsn)
	l1, l2 := newLedger(t, s1, t1), newLedger(t, s2, t1)

	// Three lots, so that consumes cross lot boundaries.
	const amount = 7
	lots := []int64{100, 100, int64(sz.consumers)}
	var balance int64
	for i, a := range lots {
		exp := t1.Add(time.Duration(i+1) * time.Hour)
		_, err := l1.Grant(ctx, ledger.GrantParams{Account: "hot", IdempotencyKey: fmt.Sprintf("lot-%d", i), Amount: credits(a), ExpiresAt: &exp})
		require.NoError(t, err)
		balance += a
	}
	wantOK := int(balance / amount)
	require.Less(t, wantOK, sz.consumers, "some consumers must be refused")

	var ok, insufficient int
	var other []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := range sz.consumers {
		l := l1
		if i%2 == 1 {
			l = l2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			_, err := l.Consume(ctx, ledger.ConsumeParams{Account: "hot", Amount: credits(amount), IdempotencyKey: fmt.Sprintf("c-%d", i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ledger.ErrInsufficientCredits):
				insufficient++
			default:
				other = append(other, err)
			}
		}()
	}
	start := time.Now()
	close(startGate)
	wg.Wait()
	elapsed := time.Since(start)
	require.Empty(t, other, "errors other than ErrInsufficientCredits")
	require.Equal(t, wantOK, ok, "successful consumes")
	require.Equal(t, sz.consumers-wantOK, insufficient)
	bal, err := l1.Balance(ctx, "hot")
	require.NoError(t, err)
	require.True(t, bal.Available.Equal(credits(balance-int64(wantOK)*amount)), "balance %s", bal.Available)
	consumed, entries := consumeTotals(t, s1, "hot")
	require.Equal(t, -int64(wantOK)*amount, consumed, "credits consumed in the history")
	rep := requireVerified(t, l1)
	t.Logf("%d consumers of %d on a balance of %d (%d lots) in %s: %d succeeded, %d ErrInsufficientCredits, 0 other errors; %d consume entries; Verify clean",
		sz.consumers, amount, balance, len(lots), elapsed.Round(time.Millisecond), ok, insufficient, entries)

	// One key, many concurrent calls: one write, the rest replays.
	_, err = l1.Grant(ctx, ledger.GrantParams{Account: "dup", IdempotencyKey: "dup-grant", Amount: credits(100)})
	require.NoError(t, err)
	receipts := make([]*ledger.Receipt, sz.consumers/2)
	errs := make([]error, len(receipts))
	startGate = make(chan struct{})
	for i := range receipts {
		l := l1
		if i%2 == 1 {
			l = l2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			receipts[i], errs[i] = l.Consume(ctx, ledger.ConsumeParams{Account: "dup", Amount: credits(3), IdempotencyKey: "same-key"})
		}()
	}
	close(startGate)
	wg.Wait()
	written := 0
	for i, r := range receipts {
		require.NoError(t, errs[i])
		require.Equal(t, receipts[0].OperationID, r.OperationID, "every call returns the one operation")
		require.True(t, r.Balance.Equal(credits(97)))
		if !r.Replayed {
			written++
		}
	}
	require.Equal(t, 1, written, "exactly one call writes")
	consumed, n := consumeTotals(t, s1, "dup")
	require.Equal(t, int64(-3), consumed)
	require.Equal(t, 1, n, "one consume entry")
	rep = requireVerified(t, l1)
	t.Logf("%d concurrent consumes with one key: 1 written, %d replayed, 1 consume entry; Verify clean over %d entries", len(receipts), len(receipts)-1, rep.Entries)
}

// consumeTotals returns the sum and number of an account's consume entries.
func consumeTotals(t testing.TB, s storage.Store, account string) (sum int64, n int) {
	t.Helper()
	dumps, err := s.Scan(context.Background(), account[:len(account)-1], 1000)
	require.NoError(t, err)
	for _, d := range dumps {
		if d.Account.ID != account {
			continue
		}
		for _, e := range d.Entries {
			if e.Kind == storage.KindConsume {
				sum += e.Amount
				n++
			}
		}
	}
	return sum, n
}

// TestConcurrentMigrate opens four stores on one fresh schema (or SQLite
// file) and has them migrate at the same moment, two with Migrate and two
// with ledger.New, several rounds each on a fresh database. All succeed;
// each migration is recorded once, the scale once, every table and trigger
// exists, and the ledger works.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	const stores = 4
	migrationFiles := func(dir string) []string {
		matches, err := filepath.Glob(filepath.Join("..", "storage", "bunstore", "migrations", dir, "*.up.sql"))
		require.NoError(t, err)
		require.NotEmpty(t, matches)
		var names []string
		for _, m := range matches {
			names = append(names, strings.SplitN(filepath.Base(m), "_", 2)[0])
		}
		// The Go half of schema 3 (bunstore/hashchain.go) has no file.
		names = append(names, "20261128000002")
		sort.Strings(names)
		return names
	}
	for _, kind := range []struct {
		name, dir string
		dsn       func(t *testing.T) string
	}{
		{"sqlite", "sqlite", func(t *testing.T) string { return testdb.SQLitePath(t) }},
		{"postgres", "postgres", func(t *testing.T) string { return testdb.PostgresDSN(t) }},
	} {
		t.Run(kind.name, func(t *testing.T) {
			if kind.name == "postgres" {
				testdb.SkipWithoutPostgres(t)
			}
			t.Parallel()
			want := migrationFiles(kind.dir)
			for round := range cfg().migrateRounds {
				dsn := kind.dsn(t)
				ss := make([]*bunstore.Store, stores)
				for i := range ss {
					s, err := bunstore.Open(context.Background(), dsn)
					require.NoError(t, err)
					if kind.name == "postgres" {
						s.DB().SetMaxOpenConns(3)
					}
					t.Cleanup(func() { _ = s.Close() })
					ss[i] = s
				}
				errs := make([]error, stores)
				ledgers := make([]*ledger.Ledger, stores)
				var wg sync.WaitGroup
				gate := make(chan struct{})
				for i, s := range ss {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-gate
						ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
						defer cancel()
						if i%2 == 0 {
							if errs[i] = s.Migrate(ctx); errs[i] != nil {
								return
							}
						}
						ledgers[i], errs[i] = ledger.NewContext(ctx, s, &ledger.Config{Scale: 2, Catalog: catalog(), Now: fixed(t1)})
					}()
				}
				close(gate)
				wg.Wait()
				for i, err := range errs {
					require.NoError(t, err, "store %d", i)
				}
				s := ss[0]
				var versions []string
				rows, err := s.DB().QueryContext(context.Background(), "SELECT name FROM creditledger_migrations ORDER BY name")
				require.NoError(t, err)
				for rows.Next() {
					var name string
					require.NoError(t, rows.Scan(&name))
					versions = append(versions, name)
				}
				require.NoError(t, rows.Err())
				require.NoError(t, rows.Close())
				require.Equal(t, want, versions, "each migration recorded once")
				require.Equal(t, int64(1), queryInt(t, s, "SELECT count(*) FROM creditledger_meta WHERE key = 'scale'"))
				tables := []string{"creditledger_meta", "creditledger_accounts", "creditledger_lots", "creditledger_entries"}
				for _, table := range tables {
					queryInt(t, s, "SELECT count(*) FROM "+table)
				}
				if kind.name == "postgres" {
					require.Equal(t, int64(2), queryInt(t, s, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'creditledger_entries'::regclass AND NOT tgisinternal`))
				} else {
					require.Equal(t, int64(0), queryInt(t, s, "SELECT count(*) FROM creditledger_migration_locks"), "no lock row left behind")
				}
				// Every ledger works on the migrated database.
				for i, l := range ledgers {
					_, err := l.Grant(context.Background(), ledger.GrantParams{Account: fmt.Sprintf("m-%d", i), IdempotencyKey: fmt.Sprintf("m-%d", i), Amount: decimal.RequireFromString("1.25")})
					require.NoError(t, err)
				}
				rep := requireVerified(t, ledgers[1])
				require.Equal(t, stores, rep.Accounts)
				t.Logf("round %d: %d stores migrated at once: all succeeded, migrations %v recorded once each, scale once, %d ledgers working", round+1, stores, versions, stores)
			}
		})
	}
}
