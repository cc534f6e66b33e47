package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// blockedFor is how long the suite gives a transaction that must be
// blocked behind a lock to show it is blocked.
const blockedFor = 300 * time.Millisecond

// holdLock runs a transaction that locks account and then waits for
// release to be called before it runs write and commits. It returns once
// the lock is held, with release and a channel that yields the
// transaction's error. A test that fails early releases it at cleanup.
func holdLock(t *testing.T, s storage.Store, account string, write func(ctx context.Context, tx storage.Tx, a storage.Account) error) (release func(), done <-chan error) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	held := make(chan struct{})
	out := make(chan error, 1)
	go func() {
		out <- s.Tx(context.Background(), func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{account}, false, t0)
			if err != nil {
				close(held)
				return err
			}
			close(held)
			<-ch
			return write(ctx, tx, accts[0])
		})
	}()
	<-held
	return release, out
}

// testLockHolderCommitVisible: a transaction that locks an account while
// another holds it, then loads, sees what the holder committed: the
// account row, the lots and the keyed calls (LockAndLoad, and
// LockAccounts then Load). With concurrent, the second transaction must
// show as blocked until the holder commits; a store that serializes its
// transactions makes it wait for the first one whole, and the outcome is
// checked only.
func testLockHolderCommitVisible(t *testing.T, s storage.Store, concurrent bool) {
	for _, combined := range []bool{true, false} {
		ctx := t.Context()
		account := map[bool]string{true: "u", false: "v"}[combined]
		grant(t, s, account, "", "lot-1-"+account, 10, nil)
		release, holder := holdLock(t, s, account, func(ctx context.Context, tx storage.Tx, a storage.Account) error {
			return tx.Apply(ctx, grantBatch(a, "op-h-"+account, "kh", "lot-h-"+account, 5, nil, t0))
		})
		type seen struct {
			acct   storage.Account
			loaded *storage.Loaded
			err    error
		}
		got := make(chan seen, 1)
		go func() {
			var r seen
			q := storage.LoadQuery{LotsOf: []string{account}, Keys: []storage.AccountKey{{Account: account, Key: "kh"}}}
			r.err = s.Tx(context.Background(), func(ctx context.Context, tx storage.Tx) error {
				var accts []storage.Account
				var err error
				if combined {
					accts, r.loaded, err = tx.LockAndLoad(ctx, []string{account}, false, t0, q)
				} else {
					if accts, err = tx.LockAccounts(ctx, []string{account}, false, t0); err == nil {
						r.loaded, err = tx.Load(ctx, q)
					}
				}
				if err == nil {
					r.acct = accts[0]
				}
				return err
			})
			got <- r
		}()
		if concurrent {
			select {
			case r := <-got:
				t.Fatalf("combined=%v: the lock was not waited for: %+v", combined, r)
			case <-time.After(blockedFor):
			}
		}
		release()
		require.NoError(t, <-holder)
		r := <-got
		require.NoError(t, r.err)
		require.EqualValues(t, 15, r.acct.Balance, "combined=%v: the holder's account update", combined)
		require.EqualValues(t, 2, r.acct.Seq)
		require.Len(t, r.loaded.Lots, 2, "combined=%v: the holder's new lot", combined)
		require.Len(t, r.loaded.Operations, 1, "combined=%v: the holder's keyed call", combined)
		require.Equal(t, "op-h-"+account, r.loaded.Operations[0].ID)
		_ = ctx
	}
}
