package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// holdCases are the cases on holds, lot credits, loads by id and entry
// refs.
var holdCases = []suiteCase{
	{"HoldsApplyLoadAndEnd", testHoldsApplyLoadAndEnd},
	{"HoldEndOnlyOnce", testHoldEndOnlyOnce},
	{"LotCredits", testLotCredits},
}

// entryOn builds the next entry of acct (moving its seq, balance and
// head) on lot with kind, amount and ref.
func entryOn(acct *storage.Account, opID, lotID string, kind storage.EntryKind, amount int64, ref string, expires *time.Time) storage.Entry {
	acct.Seq++
	acct.Balance += amount
	e := storage.Entry{ID: "e-" + opID + "-" + lotID + "-" + string(kind), Account: acct.ID, Seq: acct.Seq, OperationID: opID, LotID: lotID,
		Kind: kind, Amount: amount, BalanceAfter: acct.Balance, Source: "test", CreatedAt: t0, ExpiresAt: expires, Ref: ref}
	e.Hash = storage.EntryHash(acct.HeadHash, &e)
	acct.HeadHash = e.Hash
	return e
}

func update(a *storage.Account) storage.AccountUpdate {
	return storage.AccountUpdate{ID: a.ID, Balance: a.Balance, Seq: a.Seq, HeadHash: a.HeadHash, NextExpiryAt: a.NextExpiryAt}
}

// apply locks account and applies the batch make builds from it.
func apply(t *testing.T, s storage.Store, account string, make func(a *storage.Account) *storage.Batch) error {
	t.Helper()
	return s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{account}, false, t0)
		if err != nil {
			return err
		}
		require.Len(t, accts, 1)
		return tx.Apply(ctx, make(&accts[0]))
	})
}

func load(t *testing.T, s storage.Store, q storage.LoadQuery) *storage.Loaded {
	t.Helper()
	var out *storage.Loaded
	err := s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		var err error
		out, err = tx.Load(ctx, q)
		return err
	})
	require.NoError(t, err)
	return out
}

func holdBatch(a *storage.Account) *storage.Batch {
	exp := t0.Add(15 * time.Minute)
	a.NextExpiryAt = &exp
	return &storage.Batch{
		Entries: []storage.Entry{
			entryOn(a, "hold-1", "lot-1", storage.KindHold, -100, "", &exp),
			entryOn(a, "hold-1", "lot-2", storage.KindHold, -20, "", &exp),
		},
		Debits: []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 100}, {Account: "u", LotID: "lot-2", Amount: 20}},
		Holds: []storage.Hold{{ID: "hold-1", Account: "u", Amount: 120, State: storage.HoldActive, ExpiresAt: exp, CreatedAt: t0,
			Lines: []storage.HoldLine{{LotID: "lot-1", Amount: 100}, {LotID: "lot-2", Amount: 20}}}},
		Accounts: []storage.AccountUpdate{update(a)},
	}
}

func releaseBatch(a *storage.Account, opID string) *storage.Batch {
	end := t0.Add(time.Minute)
	return &storage.Batch{
		Entries: []storage.Entry{
			entryOn(a, opID, "lot-1", storage.KindRelease, 100, "hold-1", nil),
			entryOn(a, opID, "lot-2", storage.KindRelease, 20, "hold-1", nil),
		},
		Credits:     []storage.LotCredit{{Account: "u", LotID: "lot-1", Amount: 100}, {Account: "u", LotID: "lot-2", Amount: 20}},
		HoldUpdates: []storage.HoldUpdate{{Account: "u", ID: "hold-1", State: storage.HoldReleased, EndedAt: end, EndOperationID: opID}},
		Accounts:    []storage.AccountUpdate{update(a)},
	}
}

func testHoldsApplyLoadAndEnd(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 100, nil)
	grant(t, s, "u", "", "lot-2", 50, nil)
	require.NoError(t, apply(t, s, "u", holdBatch))

	hs, err := s.Holds(ctx, storage.HoldQuery{Account: "u", OnlyActive: true})
	require.NoError(t, err)
	require.Len(t, hs, 1)
	h := hs[0]
	require.Equal(t, "hold-1", h.ID)
	require.EqualValues(t, 120, h.Amount)
	require.Equal(t, storage.HoldActive, h.State)
	require.True(t, t0.Add(15*time.Minute).Equal(h.ExpiresAt))
	require.True(t, t0.Equal(h.CreatedAt))
	require.Nil(t, h.EndedAt)
	require.Equal(t, []storage.HoldLine{{LotID: "lot-1", Amount: 100}, {LotID: "lot-2", Amount: 20}}, h.Lines)

	loaded := load(t, s, storage.LoadQuery{LotsOf: []string{"u"}, HoldsOf: []string{"u"},
		Lots: []storage.AccountID{{Account: "u", ID: "lot-1"}, {Account: "other", ID: "lot-2"}}})
	require.Len(t, loaded.Holds, 1)
	var lot1, lot2 int
	for _, l := range loaded.Lots {
		switch l.ID {
		case "lot-1":
			lot1++
			require.Zero(t, l.Remaining, "a lot loaded by id comes whatever its remaining")
		case "lot-2":
			lot2++
			require.EqualValues(t, 30, l.Remaining)
		}
	}
	require.Equal(t, 1, lot1, "lot-1 by id (not open)")
	require.Equal(t, 1, lot2, "lot-2 open; not by id: that key names another account")

	require.NoError(t, apply(t, s, "u", func(a *storage.Account) *storage.Batch { return releaseBatch(a, "rel-1") }))
	loaded = load(t, s, storage.LoadQuery{HoldsOf: []string{"u"}})
	require.Empty(t, loaded.Holds, "a released hold is not active")
	loaded = load(t, s, storage.LoadQuery{Holds: []storage.AccountID{{Account: "u", ID: "hold-1"}, {Account: "u", ID: "nope"}},
		Refs: []storage.AccountID{{Account: "u", ID: "hold-1"}}})
	require.Len(t, loaded.Holds, 1)
	h = loaded.Holds[0]
	require.Equal(t, storage.HoldReleased, h.State)
	require.Equal(t, "rel-1", h.EndOperationID)
	require.NotNil(t, h.EndedAt)
	require.True(t, t0.Add(time.Minute).Equal(*h.EndedAt))
	var got []string
	for _, e := range loaded.Entries {
		got = append(got, string(e.Kind)+" "+e.LotID+" "+e.Ref)
	}
	require.Equal(t, []string{"hold lot-1 ", "hold lot-2 ", "release lot-1 hold-1", "release lot-2 hold-1"}, got,
		"entries of the operation and those whose ref names it, by seq")

	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	for _, l := range lots {
		require.Equal(t, l.Amount, l.Remaining, "lot %s got its credits back", l.ID)
	}
	dumps, err := s.Scan(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, dumps, 1)
	require.Len(t, dumps[0].Holds, 1)
	require.Equal(t, "hold-1", dumps[0].Entries[5].Ref, "refs round-trip")
	require.True(t, t0.Add(15*time.Minute).Equal(*dumps[0].Entries[2].ExpiresAt), "a hold entry keeps the hold's expiry")
}

func testHoldEndOnlyOnce(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 100, nil)
	grant(t, s, "u", "", "lot-2", 50, nil)
	require.NoError(t, apply(t, s, "u", holdBatch))
	require.NoError(t, apply(t, s, "u", func(a *storage.Account) *storage.Batch { return releaseBatch(a, "rel-1") }))
	end := func(id string) func(a *storage.Account) *storage.Batch {
		return func(a *storage.Account) *storage.Batch {
			return &storage.Batch{
				Entries:     []storage.Entry{entryOn(a, "x", "lot-1", storage.KindConsume, -1, "", nil)},
				Debits:      []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 1}},
				HoldUpdates: []storage.HoldUpdate{{Account: "u", ID: id, State: storage.HoldExpired, EndedAt: t0, EndOperationID: "x"}},
				Accounts:    []storage.AccountUpdate{update(a)},
			}
		}
	}
	require.ErrorIs(t, apply(t, s, "u", end("hold-1")), storage.ErrNotFound, "a hold that is not active cannot be ended")
	require.ErrorIs(t, apply(t, s, "u", end("missing")), storage.ErrNotFound, "an unknown hold cannot be ended")
	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.EqualValues(t, 6, a.Seq, "the refused batches wrote nothing")
	hs, err := s.Holds(ctx, storage.HoldQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, hs, 1)
	require.Equal(t, storage.HoldReleased, hs[0].State)
	require.Equal(t, "rel-1", hs[0].EndOperationID)
}

func testLotCredits(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 100, nil)
	err := apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		return &storage.Batch{Credits: []storage.LotCredit{{Account: "u", LotID: "lot-1", Amount: 0}}}
	})
	require.ErrorIs(t, err, storage.ErrInvalidAmount)
	err = apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		return &storage.Batch{Credits: []storage.LotCredit{{Account: "u", LotID: "lot-1", Amount: 1}}}
	})
	require.Error(t, err, "a lot's remaining never exceeds its amount")
	// A debit and a credit of one batch apply as their net.
	err = apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		return &storage.Batch{
			Debits:  []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 30}},
			Credits: []storage.LotCredit{{Account: "u", LotID: "lot-1", Amount: 10}},
		}
	})
	require.NoError(t, err)
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.EqualValues(t, 80, lots[0].Remaining)
}
