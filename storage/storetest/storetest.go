// Package storetest is the conformance suite every storage.Store must
// pass. A store's tests call Exercise with a function returning a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Exercise(t, func(t *testing.T) storage.Store { return memory.New() })
//	}
//
// The suite checks the storage contract itself (locking, claiming,
// loading, applying batches atomically, reads, scale); the ledger's rules
// on top of it are tested in the ledger package against every store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// NewStore returns a fresh, empty store, registering its cleanup on t.
type NewStore func(t *testing.T) storage.Store

var t0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

// Exercise runs the whole suite, each case as a parallel subtest with a
// store of its own.
func Exercise(t *testing.T, newStore NewStore) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"InitScale", testInitScale},
		{"LockAccountsCreates", testLockAccountsCreates},
		{"ApplyAndRead", testApplyAndRead},
		{"ApplyIsAtomic", testApplyIsAtomic},
		{"TxRollsBackOnError", testTxRollsBack},
		{"DuplicateKey", testDuplicateKey},
		{"ClaimAccounts", testClaimAccounts},
		{"LotsExpiryExact", testLotsExpiryExact},
		{"EntriesPaging", testEntriesPaging},
		{"Scan", testScan},
		{"ValuesRoundTrip", testValuesRoundTrip},
		{"ConcurrentLockedIncrements", testConcurrentIncrements},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			require.NoError(t, s.Init(t.Context(), 0))
			c.fn(t, s)
		})
	}
}

func tp(t time.Time) *time.Time { return &t }

// grantBatch builds a batch granting amount to account as one lot, with
// the account at seq and balance before it.
func grantBatch(acct storage.Account, opID, key, lotID string, amount int64, expires *time.Time, now time.Time) *storage.Batch {
	seq := acct.Seq + 1
	bal := acct.Balance + amount
	e := storage.Entry{ID: "e-" + lotID, Account: acct.ID, Seq: seq, OperationID: opID, LotID: lotID, Kind: storage.KindGrant,
		Amount: amount, BalanceAfter: bal, Source: "test", CreatedAt: now, ExpiresAt: expires, Available: bal}
	if key != "" {
		e.Key, e.ParamHash = key, "h-"+opID
	}
	e.Hash = storage.EntryHash(acct.HeadHash, &e)
	return &storage.Batch{
		Lots:     []storage.Lot{{ID: lotID, Account: acct.ID, OperationID: opID, Source: "test", Amount: amount, Remaining: amount, ExpiresAt: expires, CreatedAt: now}},
		Entries:  []storage.Entry{e},
		Accounts: []storage.AccountUpdate{{ID: acct.ID, Balance: bal, Seq: seq, HeadHash: e.Hash, NextGrantAt: acct.NextGrantAt, NextExpiryAt: expires}},
	}
}

// grant locks (creating) an account and applies grantBatch in one Tx.
func grant(t *testing.T, s storage.Store, account, key, lotID string, amount int64, expires *time.Time) {
	t.Helper()
	err := s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{account}, true, t0)
		if err != nil {
			return err
		}
		return tx.Apply(ctx, grantBatch(accts[0], "op-"+lotID, key, lotID, amount, expires, t0))
	})
	require.NoError(t, err)
}

func testInitScale(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.Init(ctx, 0), "the same scale again is fine")
	err := s.Init(ctx, 2)
	require.ErrorIs(t, err, storage.ErrScaleMismatch)
}

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
	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, 10, a.Balance)
	require.EqualValues(t, 1, a.Seq)
	es, err := s.Entries(ctx, storage.EntryQuery{Account: "u", Limit: 10})
	require.NoError(t, err)
	require.Len(t, es, 1)
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

func testDuplicateKey(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "k1", "lot-1", 10, nil)
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u", "v"}, true, t0)
		require.NoError(t, err)
		return tx.Apply(ctx, grantBatch(accts[0], "op-2", "k1", "lot-2", 10, nil, t0))
	})
	require.ErrorIs(t, err, storage.ErrDuplicateKey)
	_, err = s.Account(ctx, "v")
	require.ErrorIs(t, err, storage.ErrNotFound, "nothing of the failed transaction is kept")
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, lots, 1)

	// Keys are per account: the same key on another account is another
	// call.
	grant(t, s, "v", "k1", "lot-2", 7, nil)
	v, err := s.Account(ctx, "v")
	require.NoError(t, err)
	require.EqualValues(t, 7, v.Balance)
}

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

func testLotsExpiryExact(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	grant(t, s, "u", "", "lot-exp", 10, &exp)
	grant(t, s, "u", "", "lot-never", 10, nil)
	open := func(now time.Time) []string {
		lots, err := s.Lots(ctx, storage.LotQuery{Account: "u", OnlyOpen: true, Now: now})
		require.NoError(t, err)
		var ids []string
		for _, l := range lots {
			ids = append(ids, l.ID)
		}
		sort.Strings(ids)
		return ids
	}
	require.Equal(t, []string{"lot-exp", "lot-never"}, open(exp.Add(-time.Microsecond)))
	require.Equal(t, []string{"lot-never"}, open(exp), "a lot expiring at now is expired")
	require.Equal(t, []string{"lot-exp", "lot-never"}, open(time.Time{}), "zero Now: no expiry filter")
}

func testEntriesPaging(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i := range 5 {
		grant(t, s, "u", "", fmt.Sprint("lot-", i), int64(i+1), nil)
	}
	es, err := s.Entries(ctx, storage.EntryQuery{Account: "u", Limit: 2})
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.EqualValues(t, 5, es[0].Seq)
	require.EqualValues(t, 4, es[1].Seq)
	es, err = s.Entries(ctx, storage.EntryQuery{Account: "u", BeforeSeq: 4, Limit: 10})
	require.NoError(t, err)
	require.Len(t, es, 3)
	require.EqualValues(t, 3, es[0].Seq)
	require.EqualValues(t, 1, es[2].Seq)
	es, err = s.Entries(ctx, storage.EntryQuery{Account: "nobody", Limit: 10})
	require.NoError(t, err)
	require.Empty(t, es)
}

func testScan(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, id := range []string{"c", "a", "b"} {
		grant(t, s, id, "", "lot-"+id, 1, nil)
	}
	got, err := s.Scan(ctx, "", 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].Account.ID)
	require.Equal(t, "b", got[1].Account.ID)
	require.Len(t, got[0].Lots, 1)
	require.Len(t, got[0].Entries, 1)
	got, err = s.Scan(ctx, "b", 2)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "c", got[0].Account.ID)
}

func testValuesRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// Times come back in UTC at microsecond precision, whatever zone they
	// went in with; amounts keep all 64 bits.
	shanghai := time.FixedZone("CST", 8*3600)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 123456000, shanghai)
	grant(t, s, "u", "", "lot-big", math.MaxInt64-1, &exp)
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, lots, 1)
	require.EqualValues(t, int64(math.MaxInt64-1), lots[0].Amount)
	require.NotNil(t, lots[0].ExpiresAt)
	require.True(t, exp.Equal(*lots[0].ExpiresAt))
	require.Equal(t, time.UTC, lots[0].ExpiresAt.Location())
	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, int64(math.MaxInt64-1), a.Balance)
	require.NotNil(t, a.NextExpiryAt)
	require.True(t, exp.Equal(*a.NextExpiryAt))
	es, err := s.Entries(ctx, storage.EntryQuery{Account: "u", Limit: 1})
	require.NoError(t, err)
	require.Nil(t, es[0].Metadata)
	require.Equal(t, time.UTC, es[0].CreatedAt.Location())
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
