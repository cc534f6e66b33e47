package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// batchCases are the rules of storage.Batch on records of one batch that
// name each other (see the Batch type's documentation).
var batchCases = []suiteCase{
	{"BatchLotInsertedAndDebited", testBatchLotInsertedAndDebited},
	{"BatchLastAccountUpdateWins", testBatchLastAccountUpdateWins},
	{"BatchHoldCreatedAndEnded", testBatchHoldCreatedAndEnded},
	{"BatchHoldEndedTwice", testBatchHoldEndedTwice},
	{"BatchDebitAndCreditNet", testBatchDebitAndCreditNet},
	{"ApplySeesEarlierApply", testApplySeesEarlierApply},
}

// testBatchLotInsertedAndDebited: a lot inserted by a batch can be
// debited by the same batch (a grant spent at once), up to its remaining;
// past it the batch is refused whole.
func testBatchLotInsertedAndDebited(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-0", 5, nil)
	spendAtOnce := func(debit int64) func(a *storage.Account) *storage.Batch {
		return func(a *storage.Account) *storage.Batch {
			b := grantBatch(*a, "op-1", "k1", "lot-1", 10, nil, t0)
			*a = storage.Account{ID: a.ID, Balance: a.Balance + 10, Seq: a.Seq + 1, HeadHash: b.Entries[0].Hash}
			e := entryOn(a, "op-2", "lot-1", storage.KindConsume, -debit, "", nil)
			b.Entries = append(b.Entries, e)
			b.Debits = []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: debit}}
			b.Accounts = []storage.AccountUpdate{update(a)}
			return b
		}
	}
	require.Error(t, apply(t, s, "u", spendAtOnce(11)), "a debit past the new lot's remaining")
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, lots, 1, "the refused batch wrote nothing")

	require.NoError(t, apply(t, s, "u", spendAtOnce(4)))
	lots, err = s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, lots, 2)
	byID := map[string]storage.Lot{lots[0].ID: lots[0], lots[1].ID: lots[1]}
	require.EqualValues(t, 10, byID["lot-1"].Amount)
	require.EqualValues(t, 6, byID["lot-1"].Remaining, "inserted with 10, debited by 4 in the same batch")
	require.EqualValues(t, 5, byID["lot-0"].Remaining)
	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, 11, a.Balance)
	require.EqualValues(t, 3, a.Seq)
}

// testBatchLastAccountUpdateWins: two updates of one account in one batch
// are not both applied: the last one given is the account's new state.
func testBatchLastAccountUpdateWins(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 10, nil)
	later := t0.Add(time.Hour)
	err := apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		first := storage.AccountUpdate{ID: "u", Balance: 99, Seq: a.Seq, HeadHash: a.HeadHash, SetPlan: true, Plan: "first"}
		last := storage.AccountUpdate{ID: "u", Balance: a.Balance, Seq: a.Seq, HeadHash: a.HeadHash, NextGrantAt: &later,
			SetPlan: true, Plan: "last", Anchor: t0}
		return &storage.Batch{Accounts: []storage.AccountUpdate{first, last}}
	})
	require.NoError(t, err)
	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, 10, a.Balance, "the last update's balance")
	require.Equal(t, "last", a.Plan)
	require.True(t, t0.Equal(a.Anchor))
	require.NotNil(t, a.NextGrantAt)
	require.True(t, later.Equal(*a.NextGrantAt))
}

// testBatchHoldCreatedAndEnded: a hold created and ended by one batch is
// stored ended, as the update says.
func testBatchHoldCreatedAndEnded(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 100, nil)
	grant(t, s, "u", "", "lot-2", 50, nil)
	ended := t0.Add(time.Second)
	err := apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		b := holdBatch(a)
		r := releaseBatch(a, "rel-1")
		b.Entries = append(b.Entries, r.Entries...)
		b.Credits = r.Credits
		b.HoldUpdates = []storage.HoldUpdate{{Account: "u", ID: "hold-1", State: storage.HoldCaptured, Captured: 7,
			EndedAt: ended, EndOperationID: "rel-1"}}
		b.Accounts = []storage.AccountUpdate{update(a)}
		return b
	})
	require.NoError(t, err)
	hs, err := s.Holds(ctx, storage.HoldQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, hs, 1)
	h := hs[0]
	require.Equal(t, storage.HoldCaptured, h.State)
	require.EqualValues(t, 120, h.Amount)
	require.EqualValues(t, 7, h.Captured)
	require.NotNil(t, h.EndedAt)
	require.True(t, ended.Equal(*h.EndedAt))
	require.Equal(t, "rel-1", h.EndOperationID)
	active, err := s.Holds(ctx, storage.HoldQuery{Account: "u", OnlyActive: true})
	require.NoError(t, err)
	require.Empty(t, active)
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	for _, l := range lots {
		require.Equal(t, l.Amount, l.Remaining, "lot %s: the hold's debit and the release's credit net to nothing", l.ID)
	}
}

// testBatchHoldEndedTwice: one hold ended twice in one batch is refused
// with ErrNotFound (the second finds it no longer active), nothing
// written.
func testBatchHoldEndedTwice(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 100, nil)
	grant(t, s, "u", "", "lot-2", 50, nil)
	require.NoError(t, apply(t, s, "u", holdBatch))
	err := apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		b := releaseBatch(a, "rel-1")
		b.HoldUpdates = append(b.HoldUpdates, storage.HoldUpdate{Account: "u", ID: "hold-1", State: storage.HoldExpired,
			EndedAt: t0, EndOperationID: "rel-2"})
		return b
	})
	require.ErrorIs(t, err, storage.ErrNotFound)
	hs, err := s.Holds(ctx, storage.HoldQuery{Account: "u", OnlyActive: true})
	require.NoError(t, err)
	require.Len(t, hs, 1, "the hold is still active")
	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, 4, a.Seq, "the refused batch wrote no entry")
}

// testBatchDebitAndCreditNet: a lot's debits and credits of one batch
// apply as their net, which alone must keep its remaining within [0,
// amount]: a debit larger than the remaining passes with a credit that
// brings the net within it, and a net past it is refused.
func testBatchDebitAndCreditNet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 10, nil)
	// Remaining 10 of 10.
	change := func(debits []int64, credit int64) error {
		return apply(t, s, "u", func(a *storage.Account) *storage.Batch {
			b := &storage.Batch{Credits: []storage.LotCredit{{Account: "u", LotID: "lot-1", Amount: credit}}}
			for _, d := range debits {
				b.Debits = append(b.Debits, storage.LotDebit{Account: "u", LotID: "lot-1", Amount: d})
			}
			return b
		})
	}
	remaining := func() int64 {
		lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
		require.NoError(t, err)
		require.Len(t, lots, 1)
		return lots[0].Remaining
	}
	require.NoError(t, change([]int64{8, 4}, 5), "debits of 12 and a credit of 5: a net debit of 7")
	require.EqualValues(t, 3, remaining())
	require.Error(t, change([]int64{5}, 1), "a net debit of 4 is past the remaining 3")
	require.EqualValues(t, 3, remaining(), "refused: nothing written")
	require.Error(t, change([]int64{1}, 9), "a net credit of 8 would leave 11 of 10")
	require.EqualValues(t, 3, remaining(), "refused: nothing written")
	require.NoError(t, change([]int64{3}, 3), "a debit and a credit that cancel out")
	require.EqualValues(t, 3, remaining())
	require.NoError(t, change([]int64{2, 2}, 1), "a net debit of 3, all that remains")
	require.EqualValues(t, 0, remaining())
}

// testApplySeesEarlierApply: a transaction's Apply sees what an earlier
// Apply of the same transaction wrote (a lot to debit, the account's
// state), and its reads see both.
func testApplySeesEarlierApply(t *testing.T, s storage.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, true, t0)
		if err != nil {
			return err
		}
		b := grantBatch(accts[0], "op-1", "k1", "lot-1", 10, nil, t0)
		if err := tx.Apply(ctx, b); err != nil {
			return err
		}
		a := storage.Account{ID: "u", Balance: 10, Seq: 1, HeadHash: b.Entries[0].Hash}
		e := entryOn(&a, "op-2", "lot-1", storage.KindConsume, -4, "", nil)
		if err := tx.Apply(ctx, &storage.Batch{
			Entries:  []storage.Entry{e},
			Debits:   []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 4}},
			Accounts: []storage.AccountUpdate{update(&a)},
		}); err != nil {
			return err
		}
		loaded, err := tx.Load(ctx, storage.LoadQuery{LotsOf: []string{"u"}, Keys: []storage.AccountKey{{Account: "u", Key: "k1"}}})
		if err != nil {
			return err
		}
		require.Len(t, loaded.Lots, 1)
		require.EqualValues(t, 6, loaded.Lots[0].Remaining)
		require.Len(t, loaded.Operations, 1)
		require.Equal(t, "op-1", loaded.Operations[0].ID)
		return nil
	})
	require.NoError(t, err)
	requireState(t, s, "u", 6, 2, 2)
}
