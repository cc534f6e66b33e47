package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

func testApplyAndRead(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := t0.Add(48 * time.Hour)
	grant(t, s, "u", "k1", "lot-1", 100, &exp)
	grant(t, s, "u", "", "lot-2", 5, nil)

	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, 105, a.Balance)
	require.EqualValues(t, 2, a.Seq)

	// Debit lot-1 by 30 with one consume entry and a plan change.
	err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
		require.NoError(t, err)
		loaded, err := tx.Load(ctx, storage.LoadQuery{LotsOf: []string{"u"}, Keys: []storage.AccountKey{{Account: "u", Key: "k1"}, {Account: "u", Key: "nope"}, {Account: "other", Key: "k1"}}})
		require.NoError(t, err)
		require.Len(t, loaded.Lots, 2)
		require.Len(t, loaded.Operations, 1)
		require.Equal(t, "op-lot-1", loaded.Operations[0].ID)
		require.Equal(t, "h-op-lot-1", loaded.Operations[0].Hash)
		require.Equal(t, "u", loaded.Operations[0].Account)
		require.Equal(t, storage.KindGrant, loaded.Operations[0].Kind)
		acct := accts[0]
		require.EqualValues(t, 1, loaded.Operations[0].Seq, "the call's first entry")
		require.EqualValues(t, 100, loaded.Operations[0].Available)
		return tx.Apply(ctx, &storage.Batch{
			Entries:  []storage.Entry{{ID: "e-c", Account: "u", Seq: 3, OperationID: "op-c", LotID: "lot-1", Kind: storage.KindConsume, Amount: -30, BalanceAfter: 75, Source: "test", Description: "spend", Metadata: map[string]string{"req": "1"}, CreatedAt: t0, Available: 75, Hash: []byte("h3")}},
			Debits:   []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 30}},
			Accounts: []storage.AccountUpdate{{ID: "u", Balance: 75, Seq: 3, NextGrantAt: tp(t0.Add(time.Hour)), NextExpiryAt: acct.NextExpiryAt, SetPlan: true, Plan: "free", Anchor: t0}},
		})
	})
	require.NoError(t, err)

	a, err = s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, 75, a.Balance)
	require.EqualValues(t, 3, a.Seq)
	require.Equal(t, "free", a.Plan)
	require.True(t, t0.Equal(a.Anchor))
	require.NotNil(t, a.NextGrantAt)
	require.True(t, t0.Add(time.Hour).Equal(*a.NextGrantAt))

	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	byID := map[string]storage.Lot{}
	for _, l := range lots {
		byID[l.ID] = l
	}
	require.EqualValues(t, 70, byID["lot-1"].Remaining)
	require.EqualValues(t, 100, byID["lot-1"].Amount)
	require.Equal(t, "op-lot-1", byID["lot-1"].OperationID)

	es, err := s.OperationEntries(ctx, "u", "op-c")
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.EqualValues(t, -30, es[0].Amount)
	require.Equal(t, map[string]string{"req": "1"}, es[0].Metadata)
	require.Equal(t, "spend", es[0].Description)
}

func testApplyIsAtomic(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "k1", "lot-1", 10, nil)
	// A debit past the lot's remaining fails the whole batch, including
	// the writes listed before it.
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		_, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
		require.NoError(t, err)
		return tx.Apply(ctx, &storage.Batch{
			Entries:  []storage.Entry{{ID: "e-x", Account: "u", Seq: 2, OperationID: "op-x", LotID: "lot-1", Kind: storage.KindConsume, Amount: -11, BalanceAfter: -1, CreatedAt: t0, Key: "kx", ParamHash: "x", Hash: []byte("h2")}},
			Debits:   []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 11}},
			Accounts: []storage.AccountUpdate{{ID: "u", Balance: -1, Seq: 2}},
		})
	})
	require.Error(t, err)
	requireState(t, s, "u", 10, 1, 1)
	err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		loaded, err := tx.Load(ctx, storage.LoadQuery{Keys: []storage.AccountKey{{Account: "u", Key: "kx"}}})
		require.NoError(t, err)
		require.Empty(t, loaded.Operations, "the failed batch's operation must not exist")
		return nil
	})
	require.NoError(t, err)
}

func testTxRollsBack(t *testing.T, s storage.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, true, t0)
		require.NoError(t, err)
		require.NoError(t, tx.Apply(ctx, grantBatch(accts[0], "op-1", "k1", "lot-1", 10, nil, t0)))
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = s.Account(ctx, "u")
	require.ErrorIs(t, err, storage.ErrNotFound, "the account created in the failed tx must be gone")
	// The key is free again.
	grant(t, s, "u", "k1", "lot-1", 10, nil)
}

func testConcurrentIncrements(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "hot", "", "lot-0", 1, nil)
	const workers = 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
				accts, err := tx.LockAccounts(ctx, []string{"hot"}, false, t0)
				if err != nil {
					return err
				}
				return tx.Apply(ctx, grantBatch(accts[0], fmt.Sprint("op-", i), "", fmt.Sprint("lot-", i+1), 1, nil, t0))
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	a, err := s.Account(ctx, "hot")
	require.NoError(t, err)
	require.EqualValues(t, workers+1, a.Balance, "no locked read-modify-write may be lost")
	require.EqualValues(t, workers+1, a.Seq)
}
