package bunstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// BenchmarkSQLiteConsumeTx: one consume as the ledger writes it on
// SQLite: a transaction of LockAndLoad (the account, its open lots and
// the call of its key) and Apply (an entry, a lot debit, the account
// update).
func BenchmarkSQLiteConsumeTx(b *testing.B) {
	s := open(b, sqlitePath(b))
	ctx := context.Background()
	require.NoError(b, s.Init(ctx, 0))
	require.NoError(b, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, true, t0)
		if err != nil {
			return err
		}
		e := storage.Entry{ID: "e-0", Account: "u", Seq: 1, OperationID: "op-0", LotID: "lot-1", Kind: storage.KindGrant,
			Amount: 1 << 40, BalanceAfter: 1 << 40, CreatedAt: t0, Available: 1 << 40}
		e.Hash = storage.EntryHash(accts[0].HeadHash, &e)
		return tx.Apply(ctx, &storage.Batch{
			Lots:     []storage.Lot{{ID: "lot-1", Account: "u", OperationID: "op-0", Source: "s", Amount: 1 << 40, Remaining: 1 << 40, CreatedAt: t0}},
			Entries:  []storage.Entry{e},
			Accounts: []storage.AccountUpdate{{ID: "u", Balance: 1 << 40, Seq: 1, HeadHash: e.Hash}},
		})
	}))
	b.ResetTimer()
	for i := range b.N {
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			key := fmt.Sprint("k-", i)
			accts, _, err := tx.LockAndLoad(ctx, []string{"u"}, false, t0,
				storage.LoadQuery{LotsOf: []string{"u"}, Keys: []storage.AccountKey{{Account: "u", Key: key}}})
			if err != nil {
				return err
			}
			a := accts[0]
			e := storage.Entry{ID: fmt.Sprint("e-", a.Seq+1), Account: "u", Seq: a.Seq + 1, OperationID: fmt.Sprint("op-", a.Seq+1),
				LotID: "lot-1", Kind: storage.KindConsume, Amount: -1, BalanceAfter: a.Balance - 1, Description: "a consume",
				CreatedAt: t0, Key: key, ParamHash: "h", Available: a.Balance - 1}
			e.Hash = storage.EntryHash(a.HeadHash, &e)
			return tx.Apply(ctx, &storage.Batch{
				Entries:  []storage.Entry{e},
				Debits:   []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 1}},
				Accounts: []storage.AccountUpdate{{ID: "u", Balance: a.Balance - 1, Seq: a.Seq + 1, HeadHash: e.Hash}},
			})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSQLiteGrantChunk: one distribution chunk on SQLite: a
// transaction locking 1,000 accounts, loading their open lots, and
// applying a grant to each (a lot, an entry, an account update).
func BenchmarkSQLiteGrantChunk(b *testing.B) {
	s := open(b, sqlitePath(b))
	ctx := context.Background()
	require.NoError(b, s.Init(ctx, 0))
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("account-%06d", i)
	}
	require.NoError(b, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		_, err := tx.LockAccounts(ctx, ids, true, t0)
		return err
	}))
	b.ResetTimer()
	for n := range b.N {
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, ids, false, t0)
			if err != nil {
				return err
			}
			if _, err := tx.Load(ctx, storage.LoadQuery{LotsOf: ids}); err != nil {
				return err
			}
			var batch storage.Batch
			for _, a := range accts {
				lot := fmt.Sprintf("lot-%d-%s", n, a.ID)
				e := storage.Entry{ID: "e-" + lot, Account: a.ID, Seq: a.Seq + 1, OperationID: "op-" + lot, LotID: lot,
					Kind: storage.KindGrant, Amount: 50, BalanceAfter: a.Balance + 50, Source: "monthly_refresh",
					CreatedAt: t0, Key: "creditledger:grant:" + lot, ParamHash: "h", Available: a.Balance + 50}
				e.Hash = storage.EntryHash(a.HeadHash, &e)
				batch.Lots = append(batch.Lots, storage.Lot{ID: lot, Account: a.ID, OperationID: e.OperationID,
					Source: "monthly_refresh", Amount: 50, Remaining: 50, CreatedAt: t0})
				batch.Entries = append(batch.Entries, e)
				batch.Accounts = append(batch.Accounts, storage.AccountUpdate{ID: a.ID, Balance: a.Balance + 50, Seq: a.Seq + 1,
					HeadHash: e.Hash})
			}
			return tx.Apply(ctx, &batch)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
