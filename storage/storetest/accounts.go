package storetest

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

func testLockAccountsCreates(t *testing.T, s storage.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		got, err := tx.LockAccounts(ctx, []string{"b", "a"}, false, t0)
		require.NoError(t, err)
		require.Empty(t, got, "without create, missing accounts are not returned")
		got, err = tx.LockAccounts(ctx, []string{"b", "a", "b"}, true, t0)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "a", got[0].ID, "accounts come back in id order")
		require.Equal(t, "b", got[1].ID)
		require.True(t, t0.Equal(got[0].CreatedAt))
		require.Zero(t, got[0].Balance)
		require.Zero(t, got[0].Seq)
		require.Nil(t, got[0].NextGrantAt)
		return nil
	})
	require.NoError(t, err)
	a, err := s.Account(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a", a.ID)
	_, err = s.Account(ctx, "zzz")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testLockAndLoad(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	grant(t, s, "u", "k1", "lot-1", 5, &exp)
	grant(t, s, "u", "", "lot-2", 7, nil)
	grant(t, s, "v", "k2", "lot-3", 9, nil)
	q := storage.LoadQuery{
		LotsOf: []string{"u"},
		Keys:   []storage.AccountKey{{Account: "u", Key: "k1"}, {Account: "v", Key: "k2"}, {Account: "u", Key: "k2"}, {Account: "u", Key: "nope"}},
	}
	type result struct {
		accounts []storage.Account
		loaded   *storage.Loaded
	}
	var separate, combined result
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		var err error
		if separate.accounts, err = tx.LockAccounts(ctx, []string{"u", "w"}, false, t0); err != nil {
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
	byID := func(r result) {
		sort.Slice(r.loaded.Lots, func(i, j int) bool { return r.loaded.Lots[i].ID < r.loaded.Lots[j].ID })
		sort.Slice(r.loaded.Operations, func(i, j int) bool { return r.loaded.Operations[i].ID < r.loaded.Operations[j].ID })
	}
	byID(separate)
	byID(combined)
	require.Equal(t, separate, combined, "LockAndLoad is LockAccounts then Load")
	require.Len(t, combined.accounts, 1, "w does not exist and is not created")
	require.Equal(t, "u", combined.accounts[0].ID)
	require.EqualValues(t, 12, combined.accounts[0].Balance)
	require.EqualValues(t, 2, combined.accounts[0].Seq)
	require.NotEmpty(t, combined.accounts[0].HeadHash)
	require.Len(t, combined.loaded.Lots, 2, "u's open lots only")
	require.Len(t, combined.loaded.Operations, 2, "k1 of u and k2 of v; k2 of u and nope do not exist")

	// With create, missing accounts are made and returned.
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, loaded, err := tx.LockAndLoad(ctx, []string{"new"}, true, t0, storage.LoadQuery{LotsOf: []string{"new"}})
		require.NoError(t, err)
		require.Len(t, accts, 1)
		require.Equal(t, "new", accts[0].ID)
		require.Zero(t, accts[0].Seq)
		require.Nil(t, accts[0].HeadHash)
		require.Empty(t, loaded.Lots)
		return nil
	}))
	_, err := s.Account(ctx, "new")
	require.NoError(t, err)

	// Several accounts with create (a group commit's batch): the missing
	// ones are made, all come back by ID with what q asks of them.
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, loaded, err := tx.LockAndLoad(ctx, []string{"new3", "u", "new2"}, true, t0, storage.LoadQuery{
			LotsOf: []string{"u", "new2"},
			Keys:   []storage.AccountKey{{Account: "u", Key: "k1"}, {Account: "new3", Key: "k1"}},
		})
		require.NoError(t, err)
		require.Len(t, accts, 3)
		require.Equal(t, []string{"new2", "new3", "u"}, []string{accts[0].ID, accts[1].ID, accts[2].ID})
		require.Len(t, loaded.Lots, 2, "u's open lots")
		require.Len(t, loaded.Operations, 1, "k1 of u")
		return nil
	}))
}

func testAccountWithOpenLots(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	grant(t, s, "u", "", "lot-exp", 5, &exp)
	grant(t, s, "u", "", "lot-never", 7, nil)
	a, lots, err := s.AccountWithOpenLots(ctx, "u", t0)
	require.NoError(t, err)
	require.EqualValues(t, 12, a.Balance)
	require.Len(t, lots, 2)
	a, lots, err = s.AccountWithOpenLots(ctx, "u", exp)
	require.NoError(t, err)
	require.EqualValues(t, 12, a.Balance, "the booked balance is not swept")
	require.Len(t, lots, 1, "a lot expiring at now is not open")
	require.Equal(t, "lot-never", lots[0].ID)
	_, _, err = s.AccountWithOpenLots(ctx, "nobody", t0)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.GreaterOrEqual(t, s.MaxParallelTx(), 1)
}
