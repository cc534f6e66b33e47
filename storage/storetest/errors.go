package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// testErrorSentinels: each error a store returns wraps the storage
// sentinel that says what was wrong, whether Apply returns it or (for a
// store that defers the write to its commit) Store.Tx does, and nothing
// of the transaction is written.
func testErrorSentinels(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "k1", "lot-1", 10, nil)
	grant(t, s, "v", "", "lot-v", 3, nil)

	_, err := s.Account(ctx, "nobody")
	require.ErrorIs(t, err, storage.ErrNotFound, "Account")
	_, _, err = s.AccountWithOpenLots(ctx, "nobody", t0)
	require.ErrorIs(t, err, storage.ErrNotFound, "AccountWithOpenLots")

	// A consume entry of u that each case spoils in one way.
	consume := func(a storage.Account) *storage.Batch {
		e := storage.Entry{ID: "e-c", Account: "u", Seq: a.Seq + 1, OperationID: "op-c", LotID: "lot-1", Kind: storage.KindConsume,
			Amount: -4, BalanceAfter: a.Balance - 4, CreatedAt: t0, Key: "c1", ParamHash: "h", Available: a.Balance - 4}
		e.Hash = storage.EntryHash(a.HeadHash, &e)
		return &storage.Batch{
			Entries:  []storage.Entry{e},
			Debits:   []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 4}},
			Accounts: []storage.AccountUpdate{{ID: "u", Balance: a.Balance - 4, Seq: a.Seq + 1, HeadHash: e.Hash}},
		}
	}
	cases := []struct {
		name  string
		spoil func(b *storage.Batch)
		want  error
	}{
		{"key used before on the account", func(b *storage.Batch) { b.Entries[0].Key = "k1" }, storage.ErrDuplicateKey},
		{"debit of an unknown lot", func(b *storage.Batch) { b.Debits[0].LotID = "nope" }, storage.ErrNotFound},
		{"debit of another account's lot", func(b *storage.Batch) { b.Debits[0].LotID = "lot-v" }, storage.ErrNotFound},
		{"update of an unknown account", func(b *storage.Batch) {
			b.Accounts = append(b.Accounts, storage.AccountUpdate{ID: "nobody", Balance: 1, Seq: 1})
		}, storage.ErrNotFound},
		{"zero debit", func(b *storage.Batch) { b.Debits[0].Amount = 0 }, storage.ErrInvalidAmount},
		{"negative debit", func(b *storage.Batch) { b.Debits[0].Amount = -4 }, storage.ErrInvalidAmount},
		{"debit past the remaining", func(b *storage.Batch) { b.Debits[0].Amount = 11 }, storage.ErrInsufficientCredits},
		{"entry without a hash", func(b *storage.Batch) { b.Entries[0].Hash = nil }, storage.ErrInvalidArgument},
	}
	for _, tc := range cases {
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
			require.NoError(t, err)
			b := consume(accts[0])
			tc.spoil(b)
			return tx.Apply(ctx, b)
		})
		require.ErrorIs(t, err, tc.want, tc.name)
		a, err := s.Account(ctx, "u")
		require.NoError(t, err)
		require.EqualValues(t, 10, a.Balance, "%s: nothing written", tc.name)
		require.EqualValues(t, 1, a.Seq, tc.name)
		lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
		require.NoError(t, err)
		require.EqualValues(t, 10, lots[0].Remaining, tc.name)
	}
	// The unspoiled batch goes through.
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
		require.NoError(t, err)
		return tx.Apply(ctx, consume(accts[0]))
	}))
	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, 6, a.Balance)

	require.ErrorIs(t, s.Init(ctx, 3), storage.ErrScaleMismatch, "Init with another scale")
}

// testDuplicateKey: a key that exists on its account is refused with
// ErrDuplicateKey and nothing of the transaction is kept; keys are per
// account.
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
