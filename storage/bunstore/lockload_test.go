package bunstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/storage"
)

// LockAndLoad returns what LockAccounts then Load return.
func TestLockAndLoad(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := setup(t, db)
		exp := t0.Add(time.Hour)
		require.NoError(t, grant(ctx, s, grantParams{account: "u", key: "k1", amount: 5, expiresAt: &exp, now: t0, n: 1}))
		require.NoError(t, grant(ctx, s, grantParams{account: "u", amount: 7, now: t0, n: 2}))
		require.NoError(t, grant(ctx, s, grantParams{account: "v", key: "k2", amount: 9, now: t0, n: 3}))

		var separate, combined struct {
			accounts []storage.Account
			loaded   *storage.Loaded
		}
		q := storage.LoadQuery{LotsOf: []string{"u"}, Keys: []storage.AccountKey{{Account: "u", Key: "k1"}, {Account: "v", Key: "k2"}, {Account: "u", Key: "nope"}, {Account: "u", Key: "k2"}}}
		require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			var err error
			if separate.accounts, err = tx.LockAccounts(ctx, []string{"u", "w"}, true, t0); err != nil {
				return err
			}
			separate.loaded, err = tx.Load(ctx, q)
			return err
		}))
		require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			var err error
			combined.accounts, combined.loaded, err = tx.LockAndLoad(ctx, []string{"w", "u", "u"}, false, t0, q)
			return err
		}))
		require.Len(t, combined.accounts, 2)
		require.Equal(t, "u", combined.accounts[0].ID)
		require.Equal(t, "w", combined.accounts[1].ID)
		require.Equal(t, separate.accounts, combined.accounts)
		require.Equal(t, separate.loaded, combined.loaded)
		require.EqualValues(t, 12, combined.accounts[0].Balance)
		require.EqualValues(t, 2, combined.accounts[0].Seq)
		require.Len(t, combined.loaded.Lots, 2, "u's two open lots")
		require.Equal(t, "lot-u-b0001", combined.loaded.Lots[0].ID)
		require.True(t, exp.Equal(*combined.loaded.Lots[0].ExpiresAt))
		require.Nil(t, combined.loaded.Lots[1].ExpiresAt)
		require.EqualValues(t, 7, combined.loaded.Lots[1].Remaining)
		require.Len(t, combined.loaded.Operations, 2, "k1 and k2 exist; nope does not")
		require.Equal(t, "k1", combined.loaded.Operations[0].Key)
		require.Equal(t, "v", combined.loaded.Operations[1].Account)
		require.Equal(t, storage.KindGrant, combined.loaded.Operations[1].Kind)

		// create makes missing accounts, as LockAccounts does.
		require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, loaded, err := tx.LockAndLoad(ctx, []string{"new"}, true, t0, storage.LoadQuery{LotsOf: []string{"new"}})
			require.NoError(t, err)
			require.Len(t, accts, 1)
			require.Equal(t, "new", accts[0].ID)
			require.Empty(t, loaded.Lots)
			return nil
		}))
	})
}

// A LockAndLoad that waits for the lock of a transaction that then adds a
// lot sees that lot: it reads lots only once it holds the lock. (A single
// statement reading them would not: its snapshot predates the commit.)
func TestLockAndLoadAfterWaiting(t *testing.T) {
	testdb.SkipWithoutPostgres(t)
	t.Parallel()
	ctx := context.Background()
	// A name of its own, to find the reader waiting among other tests'
	// sessions.
	app := fmt.Sprintf("crlg_lockload_%d", time.Now().UnixNano())
	s := open(t, postgresDSN(t)+"&application_name="+app)
	require.NoError(t, s.Init(ctx, 0))
	require.NoError(t, grant(ctx, s, grantParams{account: "u", amount: 5, now: t0, n: 1}))

	locked := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // never leave the writer hanging
	writer := make(chan error, 1)
	go func() {
		writer <- s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
			if err != nil {
				return err
			}
			close(locked)
			<-release
			return tx.Apply(ctx, grantBatch(accts[0], grantParams{account: "u", amount: 7, now: t0, n: 2}, "u-late"))
		})
	}()
	<-locked
	type result struct {
		accounts []storage.Account
		loaded   *storage.Loaded
		err      error
	}
	reader := make(chan result, 1)
	go func() {
		var r result
		r.err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			var err error
			r.accounts, r.loaded, err = tx.LockAndLoad(ctx, []string{"u"}, false, t0,
				storage.LoadQuery{LotsOf: []string{"u"}})
			return err
		})
		reader <- r
	}()
	// Let the writer commit only once the reader waits for its lock.
	require.Eventually(t, func() bool {
		var waiting int
		err := s.DB().QueryRowContext(ctx,
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = ? AND wait_event_type = 'Lock'", app).Scan(&waiting)
		return err == nil && waiting > 0
	}, 10*time.Second, 5*time.Millisecond, "the reader never waited for the lock")
	releaseOnce.Do(func() { close(release) })
	require.NoError(t, <-writer)
	r := <-reader
	require.NoError(t, r.err)
	require.EqualValues(t, 2, r.accounts[0].Seq, "the lock returns the account as the writer left it")
	require.EqualValues(t, 12, r.accounts[0].Balance)
	require.Len(t, r.loaded.Lots, 2, "and the lots too, the writer's new one included")
}
