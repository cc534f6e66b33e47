package storetest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

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

func testOperationEntries(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 10, nil)
	grant(t, s, "u", "", "lot-2", 10, nil)
	// One call writing two entries, the key on the first only.
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
		require.NoError(t, err)
		a := accts[0]
		e1 := storage.Entry{ID: "e-1", Account: "u", Seq: 3, OperationID: "op-c", LotID: "lot-1", Kind: storage.KindConsume,
			Amount: -10, BalanceAfter: 10, CreatedAt: t0, Key: "c", ParamHash: "h", Available: 5}
		e1.Hash = storage.EntryHash(a.HeadHash, &e1)
		e2 := storage.Entry{ID: "e-2", Account: "u", Seq: 4, OperationID: "op-c", LotID: "lot-2", Kind: storage.KindConsume,
			Amount: -5, BalanceAfter: 5, CreatedAt: t0}
		e2.Hash = storage.EntryHash(e1.Hash, &e2)
		return tx.Apply(ctx, &storage.Batch{
			Entries:  []storage.Entry{e1, e2},
			Debits:   []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 10}, {Account: "u", LotID: "lot-2", Amount: 5}},
			Accounts: []storage.AccountUpdate{{ID: "u", Balance: 5, Seq: 4, HeadHash: e2.Hash}},
		})
	}))
	es, err := s.OperationEntries(ctx, "u", "op-c")
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.Equal(t, "e-1", es[0].ID)
	require.Equal(t, "c", es[0].Key)
	require.Equal(t, "h", es[0].ParamHash)
	require.EqualValues(t, 5, es[0].Available)
	require.Empty(t, es[1].Key)
	require.Zero(t, es[1].Available)
	require.Equal(t, storage.EntryHash(es[0].Hash, &es[1]), es[1].Hash, "hashes round-trip")
	es, err = s.OperationEntries(ctx, "v", "op-c")
	require.NoError(t, err)
	require.Empty(t, es, "an operation is found on its own account only")

	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		loaded, err := tx.Load(ctx, storage.LoadQuery{Keys: []storage.AccountKey{{Account: "u", Key: "c"}}})
		require.NoError(t, err)
		require.Len(t, loaded.Operations, 1)
		op := loaded.Operations[0]
		require.Equal(t, storage.Operation{ID: "op-c", Key: "c", Kind: storage.KindConsume, Account: "u", Hash: "h", Available: 5, Seq: 3, CreatedAt: t0}, op)
		return nil
	}))

	orphans, err := s.Orphans(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, orphans, "a store written through its contract has no orphans")
}
