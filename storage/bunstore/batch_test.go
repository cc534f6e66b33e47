package bunstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// distributeBatch builds what a distribution chunk writes: one grant per
// account.
func distributeBatch(accts []storage.Account, round int, now time.Time) *storage.Batch {
	b := &storage.Batch{}
	for _, a := range accts {
		g := grantBatch(a, grantParams{account: a.ID, key: fmt.Sprintf("monthly:%s:%d", a.ID, round), amount: 100, now: now},
			fmt.Sprintf("%s-%d", a.ID, round))
		next := now.Add(30 * 24 * time.Hour)
		g.Accounts[0].NextGrantAt = &next
		b.Lots = append(b.Lots, g.Lots...)
		b.Entries = append(b.Entries, g.Entries...)
		b.Accounts = append(b.Accounts, g.Accounts...)
	}
	return b
}

func accountIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%05d", i)
	}
	return ids
}

// TestApplyLargeBatch writes more rows than one SQLite chunk holds, in one
// Apply, then debits them all in another.
func TestApplyLargeBatch(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := setup(t, db)
		const n = 1234
		ids := accountIDs(n)
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, ids, true, t0)
			require.NoError(t, err)
			require.Len(t, accts, n)
			return tx.Apply(ctx, distributeBatch(accts, 1, t0))
		})
		require.NoError(t, err)
		require.Equal(t, n, count(t, s, "creditledger_lots"))
		require.Equal(t, n, count(t, s, "creditledger_entries"))

		err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.ClaimAccounts(ctx, storage.ClaimQuery{Now: t0.Add(31 * 24 * time.Hour), Limit: 2 * n, Grants: true})
			require.NoError(t, err)
			require.Len(t, accts, n)
			loaded, err := tx.Load(ctx, storage.LoadQuery{LotsOf: ids})
			require.NoError(t, err)
			require.Len(t, loaded.Lots, n)
			b := &storage.Batch{}
			for _, l := range loaded.Lots {
				b.Debits = append(b.Debits, storage.LotDebit{Account: l.Account, LotID: l.ID, Amount: 40})
			}
			for _, a := range accts {
				b.Accounts = append(b.Accounts, storage.AccountUpdate{ID: a.ID, Balance: a.Balance - 40, Seq: a.Seq})
			}
			return tx.Apply(ctx, b)
		})
		require.NoError(t, err)
		var remaining int64
		require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT sum(remaining) FROM creditledger_lots").Scan(&remaining))
		require.EqualValues(t, n*60, remaining)
		a, err := s.Account(ctx, ids[n-1])
		require.NoError(t, err)
		require.EqualValues(t, 60, a.Balance)
	})
}

// BenchmarkConsume measures one consume-shaped transaction on one account:
// lock, load lots and key, apply an operation, entry, debit and account
// update.
func BenchmarkConsume(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			ctx := context.Background()
			s := open(b, db.dsn(b))
			require.NoError(b, s.Init(ctx, 0))
			require.NoError(b, grant(ctx, s, grantParams{account: "u", amount: 1 << 40, now: t0}))
			b.ResetTimer()
			for i := range b.N {
				err := consumeOne(ctx, s, i)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func consumeOne(ctx context.Context, s *bunstore.Store, i int) error {
	return s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
		if err != nil {
			return err
		}
		key := fmt.Sprint("c-", i)
		loaded, err := tx.Load(ctx, storage.LoadQuery{LotsOf: []string{"u"}, Keys: []storage.AccountKey{{Account: "u", Key: key}}})
		if err != nil {
			return err
		}
		a, lot := accts[0], loaded.Lots[0]
		op := fmt.Sprint("op-c-", i)
		return tx.Apply(ctx, &storage.Batch{
			Entries: []storage.Entry{{ID: "e-" + op, Account: "u", Seq: a.Seq + 1, OperationID: op, LotID: lot.ID, Kind: storage.KindConsume,
				Amount: -1, BalanceAfter: a.Balance - 1, Metadata: map[string]string{"request": key}, CreatedAt: t0,
				Key: key, ParamHash: "h", Available: a.Balance - 1, Hash: []byte("h")}},
			Debits:   []storage.LotDebit{{Account: "u", LotID: lot.ID, Amount: 1}},
			Accounts: []storage.AccountUpdate{{ID: "u", Balance: a.Balance - 1, Seq: a.Seq + 1}},
		})
	})
}

// BenchmarkDistributeChunk measures granting 1000 accounts in one
// transaction: lock, one Apply of 1000 operations, lots, entries and
// account updates.
func BenchmarkDistributeChunk(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			ctx := context.Background()
			s := open(b, db.dsn(b))
			require.NoError(b, s.Init(ctx, 0))
			ids := accountIDs(1000)
			b.ResetTimer()
			for i := range b.N {
				err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
					accts, err := tx.LockAccounts(ctx, ids, true, t0)
					if err != nil {
						return err
					}
					return tx.Apply(ctx, distributeBatch(accts, i, t0))
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
