package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

func testClaimAccounts(t *testing.T, s storage.Store) {
	ctx := t.Context()
	due, later := t0.Add(-time.Minute), t0.Add(time.Hour)
	// a: grant due; b: expiry due; c: nothing due; d: both due exactly now.
	setup := map[string][2]*time.Time{
		"a": {&due, nil},
		"b": {nil, &due},
		"c": {&later, &later},
		"d": {tp(t0), tp(t0)},
	}
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"a", "b", "c", "d"}, true, t0)
		require.NoError(t, err)
		b := &storage.Batch{}
		for _, a := range accts {
			v := setup[a.ID]
			b.Accounts = append(b.Accounts, storage.AccountUpdate{ID: a.ID, NextGrantAt: v[0], NextExpiryAt: v[1]})
		}
		return tx.Apply(ctx, b)
	})
	require.NoError(t, err)
	claim := func(q storage.ClaimQuery) []string {
		var ids []string
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.ClaimAccounts(ctx, q)
			for _, a := range accts {
				ids = append(ids, a.ID)
			}
			return err
		})
		require.NoError(t, err)
		return ids
	}
	require.Equal(t, []string{"a", "b", "d"}, claim(storage.ClaimQuery{Now: t0, Limit: 10, Grants: true, Expiry: true}))
	require.Equal(t, []string{"a", "d"}, claim(storage.ClaimQuery{Now: t0, Limit: 10, Grants: true}))
	require.Equal(t, []string{"b", "d"}, claim(storage.ClaimQuery{Now: t0, Limit: 10, Expiry: true}))
	require.Equal(t, []string{"b"}, claim(storage.ClaimQuery{Now: t0, After: "a", Limit: 1, Grants: true, Expiry: true}))
	require.Equal(t, []string{"a", "b", "c", "d"}, claim(storage.ClaimQuery{Now: later, Limit: 10, Grants: true, Expiry: true}))
	require.Empty(t, claim(storage.ClaimQuery{Now: t0.Add(-time.Hour), Limit: 10, Grants: true, Expiry: true}))
}

// makeDue creates accounts whose grant is due at t0.
func makeDue(t *testing.T, s storage.Store, ids ...string) {
	t.Helper()
	due := t0.Add(-time.Minute)
	require.NoError(t, s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, ids, true, t0)
		if err != nil {
			return err
		}
		b := &storage.Batch{}
		for _, a := range accts {
			b.Accounts = append(b.Accounts, storage.AccountUpdate{ID: a.ID, NextGrantAt: &due})
		}
		return tx.Apply(ctx, b)
	}))
}

// claimAsync claims in a transaction of its own and sends the ids (and
// balances) it got.
type claimResult struct {
	ids      []string
	balances map[string]int64
	err      error
}

func claimAsync(s storage.Store, q storage.ClaimQuery) <-chan claimResult {
	out := make(chan claimResult, 1)
	go func() {
		r := claimResult{balances: map[string]int64{}}
		r.err = s.Tx(context.Background(), func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.ClaimAccounts(ctx, q)
			for _, a := range accts {
				r.ids = append(r.ids, a.ID)
				r.balances[a.ID] = a.Balance
			}
			return err
		})
		out <- r
	}()
	return out
}

// testClaimSkipsLocked: without Wait, a claim skips an account another
// transaction holds (it returns at once, without it); a store that
// serializes transactions returns after the holder, which made the
// account not due.
func testClaimSkipsLocked(t *testing.T, s storage.Store, concurrent bool) {
	makeDue(t, s, "a", "b", "c")
	release, holder := holdLock(t, s, "b", func(ctx context.Context, tx storage.Tx, a storage.Account) error {
		later := t0.Add(time.Hour)
		return tx.Apply(ctx, &storage.Batch{Accounts: []storage.AccountUpdate{{ID: "b", NextGrantAt: &later}}})
	})
	claimed := claimAsync(s, storage.ClaimQuery{Now: t0, Limit: 10, Grants: true})
	var r claimResult
	if concurrent {
		select {
		case r = <-claimed:
		case <-time.After(10 * time.Second):
			t.Fatal("the claim waited for a locked account instead of skipping it")
		}
		release()
	} else {
		release()
		r = <-claimed
	}
	require.NoError(t, <-holder)
	require.NoError(t, r.err)
	require.Equal(t, []string{"a", "c"}, r.ids)
}

// testClaimWaits: with Wait, a claim waits for an account another
// transaction holds and returns it as committed, or leaves it out when
// the holder made it not due.
func testClaimWaits(t *testing.T, s storage.Store, concurrent bool) {
	makeDue(t, s, "a", "b", "c", "d")
	for _, stillDue := range []bool{true, false} {
		release, holder := holdLock(t, s, "b", func(ctx context.Context, tx storage.Tx, a storage.Account) error {
			u := storage.AccountUpdate{ID: "b", Balance: a.Balance + 1, NextGrantAt: a.NextGrantAt}
			if !stillDue {
				later := t0.Add(time.Hour)
				u.NextGrantAt = &later
			}
			return tx.Apply(ctx, &storage.Batch{Accounts: []storage.AccountUpdate{u}})
		})
		claimed := claimAsync(s, storage.ClaimQuery{Now: t0, After: "a", Limit: 2, Grants: true, Wait: true})
		if concurrent {
			select {
			case r := <-claimed:
				t.Fatalf("stillDue=%v: the claim did not wait for the locked account: %+v", stillDue, r)
			case <-time.After(blockedFor):
			}
		}
		release()
		require.NoError(t, <-holder)
		r := <-claimed
		require.NoError(t, r.err)
		if stillDue {
			require.Equal(t, []string{"b", "c"}, r.ids)
			require.EqualValues(t, 1, r.balances["b"], "the holder's committed row")
		} else {
			require.NotContains(t, r.ids, "b", "no longer due once the holder committed")
			require.Equal(t, "c", r.ids[0])
		}
	}
}
