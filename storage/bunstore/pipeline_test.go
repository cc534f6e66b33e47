package bunstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// pipelinedStore is a PostgreSQL store with one pooled connection, so that
// every transaction reuses the connection the previous one left.
func pipelinedStore(t *testing.T) *bunstore.Store {
	t.Helper()
	testdb.SkipWithoutPostgres(t)
	s := setup(t, databases[1])
	s.DB().SetMaxOpenConns(1)
	return s
}

// requireOutsideTx fails if the store's connection was handed back inside
// a transaction: there, now() is the transaction's start, not the
// statement's.
func requireOutsideTx(t *testing.T, s *bunstore.Store) {
	t.Helper()
	var fresh bool
	require.NoError(t, s.DB().QueryRowContext(context.Background(),
		"SELECT now() = statement_timestamp()").Scan(&fresh))
	require.True(t, fresh, "the connection came back inside a transaction")
}

// requireBalance requires the account's stored balance to be want, and
// returns the account.
func requireBalance(t *testing.T, s *bunstore.Store, account string, want int64, msgAndArgs ...any) *storage.Account {
	t.Helper()
	a, err := s.Account(context.Background(), account)
	require.NoError(t, err, msgAndArgs...)
	require.EqualValues(t, want, a.Balance, msgAndArgs...)
	return a
}

// A deferred Apply's errors come back from Tx, with nothing written, and the
// connection is clean for the next transaction.
func TestDeferredApplyErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pipelinedStore(t)
	require.NoError(t, grant(ctx, s, grantParams{account: "u", key: "k1", amount: 10, now: t0}))

	cases := []struct {
		name  string
		batch func(a storage.Account) *storage.Batch
		want  error
	}{
		{"duplicate key", func(a storage.Account) *storage.Batch {
			return grantBatch(a, grantParams{account: "u", key: "k1", amount: 5, now: t0}, "dup")
		}, storage.ErrDuplicateKey},
		{"unknown lot", func(a storage.Account) *storage.Batch {
			b := grantBatch(a, grantParams{account: "u", key: "k2", amount: 5, now: t0}, "nolot")
			b.Debits = []storage.LotDebit{{Account: "u", LotID: "no-such-lot", Amount: 1}}
			return b
		}, storage.ErrNotFound},
		{"unknown account", func(a storage.Account) *storage.Batch {
			b := grantBatch(a, grantParams{account: "u", key: "k3", amount: 5, now: t0}, "noacct")
			b.Accounts = append(b.Accounts, storage.AccountUpdate{ID: "nobody", Balance: 1, Seq: 1})
			return b
		}, storage.ErrNotFound},
	}
	for _, tc := range cases {
		applied := false
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
			require.NoError(t, err)
			require.NoError(t, tx.Apply(ctx, tc.batch(accts[0])), "%s: checked later", tc.name)
			applied = true
			return nil
		})
		require.True(t, applied)
		require.ErrorIs(t, err, tc.want, tc.name)
		require.Equal(t, 1, count(t, s, "creditledger_entries"), "%s: nothing written", tc.name)
		requireBalance(t, s, "u", 10, tc.name)
		requireOutsideTx(t, s)
	}

	// And the next transaction on that connection works.
	require.NoError(t, grant(ctx, s, grantParams{account: "u", key: "k4", amount: 3, now: t0, n: 4}))
	requireBalance(t, s, "u", 13)
}

// A statement after ApplyOnCommit sees the batch (it goes out first), and
// both commit together.
func TestDeferredApplyThenStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pipelinedStore(t)
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, true, t0)
		require.NoError(t, err)
		require.NoError(t, tx.Apply(ctx,
			grantBatch(accts[0], grantParams{account: "u", key: "k1", amount: 5, now: t0}, "first")))
		loaded, err := tx.Load(ctx, storage.LoadQuery{LotsOf: []string{"u"}, Keys: []storage.AccountKey{{Account: "u", Key: "k1"}}})
		require.NoError(t, err)
		require.Len(t, loaded.Lots, 1, "the pending batch was written before the load")
		require.Len(t, loaded.Operations, 1)
		accts, err = tx.LockAccounts(ctx, []string{"u"}, false, t0)
		require.NoError(t, err)
		return tx.Apply(ctx,
			grantBatch(accts[0], grantParams{account: "u", key: "k2", amount: 7, now: t0}, "second"))
	})
	require.NoError(t, err)
	a := requireBalance(t, s, "u", 12)
	require.EqualValues(t, 2, a.Seq)
	requireOutsideTx(t, s)

	// A batch that fails when flushed by the next statement fails that
	// statement's call, and the transaction.
	err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
		require.NoError(t, err)
		require.NoError(t, tx.Apply(ctx,
			grantBatch(accts[0], grantParams{account: "u", key: "k1", amount: 1, now: t0}, "dup")))
		_, err = tx.Load(ctx, storage.LoadQuery{LotsOf: []string{"u"}})
		require.ErrorIs(t, err, storage.ErrDuplicateKey)
		return err
	})
	require.ErrorIs(t, err, storage.ErrDuplicateKey)
	requireBalance(t, s, "u", 12)
	requireOutsideTx(t, s)
}

// A transaction whose function fails after it began is rolled back, and
// its connection is reused clean.
func TestPipelinedRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pipelinedStore(t)
	require.NoError(t, grant(ctx, s, grantParams{account: "u", key: "k1", amount: 10, now: t0}))
	boom := errors.New("boom")
	for range 3 {
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"u", "new"}, true, t0)
			require.NoError(t, err)
			require.Len(t, accts, 2)
			return boom
		})
		require.ErrorIs(t, err, boom)
		requireOutsideTx(t, s)
		_, err = s.Account(ctx, "new")
		require.ErrorIs(t, err, storage.ErrNotFound, "the account created in the failed transaction is gone")
	}
	// A statement error (here: a text with a NUL byte reaches no
	// statement; an unknown account in a lock does) is no different.
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		return tx.Apply(ctx, &storage.Batch{Accounts: []storage.AccountUpdate{{ID: "nobody", Balance: 1}}})
	})
	require.ErrorIs(t, err, storage.ErrNotFound)
	requireOutsideTx(t, s)
	requireBalance(t, s, "u", 10)
}

// A transaction that finds its pooled connection dead at its first round
// trip (the server ended it) runs again on another connection, as
// database/sql does when BEGIN fails on a dead connection.
func TestPipelinedTxHealsDeadConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pipelinedStore(t)
	admin := open(t, postgresDSN(t))
	for i := range 3 {
		require.NoError(t, grant(ctx, s, grantParams{account: "u", key: fmt.Sprintf("k%d", i), amount: 1, now: t0, n: i}))
		var pid int
		require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		var ended bool
		require.NoError(t, admin.DB().QueryRowContext(ctx, "SELECT pg_terminate_backend(?)", pid).Scan(&ended))
		require.True(t, ended)
		require.Eventually(t, func() bool {
			var n int
			err := admin.DB().QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ?", pid).Scan(&n)
			return err == nil && n == 0
		}, 10*time.Second, 5*time.Millisecond)
	}
	// The pool's one connection is dead now, and was used a moment ago.
	require.NoError(t, grant(ctx, s, grantParams{account: "u", key: "after", amount: 10, now: t0, n: 9}))
	requireBalance(t, s, "u", 13)
	requireOutsideTx(t, s)
}

// A transaction that locks accounts plans its statements generically with
// index look-ups from its LockAndLoad to its end, and only there: a
// transaction that does not lock, and the connection after either, keep
// PostgreSQL's settings.
func TestLockPinsPlansForItsTransactionOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pipelinedStore(t)
	require.NoError(t, grant(ctx, s, grantParams{account: "u", key: "k1", amount: 10, now: t0}))
	defaults := []string{"auto", "on", "on", "on"}
	settings := func(lock bool) []string {
		var got []string
		require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			if lock {
				accts, loaded, err := tx.LockAndLoad(ctx, []string{"u"}, false, t0, storage.LoadQuery{LotsOf: []string{"u"}, HoldsOf: []string{"u"}})
				if err != nil {
					return err
				}
				require.Len(t, accts, 1)
				require.Len(t, loaded.Lots, 1, "the lock's round trip still loads the lots")
			}
			var err error
			got, err = bunstore.TxSettings(ctx, tx)
			return err
		}))
		return got
	}
	require.Equal(t, defaults, settings(false), "a transaction that locks nothing")
	require.Equal(t, []string{"force_generic_plan", "off", "off", "off"}, settings(true), "after the lock")
	require.Equal(t, defaults, settings(false), "the next transaction on the same connection")
	var mode string
	require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT current_setting('plan_cache_mode')").Scan(&mode))
	require.Equal(t, "auto", mode, "the connection outside a transaction")
}
