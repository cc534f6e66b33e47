package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// poolCases are the cases on the records of pools, feature prices, dated
// grants, lot expiry changes and debt lots (schema 6).
var poolCases = []suiteCase{
	{"PoolFieldsRoundTrip", testPoolFieldsRoundTrip},
	{"DebtLots", testDebtLots},
	{"LotExpiries", testLotExpiries},
	{"EntriesByPool", testEntriesByPool},
	{"MultiPoolSticks", testMultiPoolSticks},
}

// testMultiPoolSticks: AccountUpdate.MultiPool sets the account's flag
// and an update without it leaves the flag set, in batches updating one
// account and several; every read of the account returns it.
func testMultiPoolSticks(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-u", 1, nil)
	grant(t, s, "v", "", "lot-v", 1, nil)
	grant(t, s, "w", "", "lot-w", 1, nil)
	flags := func() map[string]bool {
		t.Helper()
		out := map[string]bool{}
		for _, id := range []string{"u", "v", "w"} {
			a, err := s.Account(ctx, id)
			require.NoError(t, err)
			out[id] = a.MultiPool
			b, _, err := s.AccountWithOpenLots(ctx, id, t0)
			require.NoError(t, err)
			require.Equal(t, a.MultiPool, b.MultiPool, "AccountWithOpenLots of %s", id)
		}
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, _, err := tx.LockAndLoad(ctx, []string{"u", "v", "w"}, false, t0, storage.LoadQuery{LotsOf: []string{"u"}})
			for _, a := range accts {
				require.Equal(t, out[a.ID], a.MultiPool, "LockAndLoad of %s", a.ID)
			}
			return err
		})
		require.NoError(t, err)
		return out
	}
	require.Equal(t, map[string]bool{"u": false, "v": false, "w": false}, flags())
	updates := func(ids []string, multi bool) {
		t.Helper()
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, ids, false, t0)
			if err != nil {
				return err
			}
			b := &storage.Batch{}
			for _, a := range accts {
				u := update(&a)
				u.MultiPool = multi
				b.Accounts = append(b.Accounts, u)
			}
			return tx.Apply(ctx, b)
		})
		require.NoError(t, err)
	}
	updates([]string{"u"}, true)
	require.Equal(t, map[string]bool{"u": true, "v": false, "w": false}, flags())
	updates([]string{"u"}, false)
	require.Equal(t, map[string]bool{"u": true, "v": false, "w": false}, flags(), "never cleared")
	updates([]string{"u", "v"}, false)
	require.Equal(t, map[string]bool{"u": true, "v": false, "w": false}, flags(), "never cleared by a batch of several")
	updates([]string{"v", "w"}, true)
	require.Equal(t, map[string]bool{"u": true, "v": true, "w": true}, flags())
	requireState(t, s, "u", 1, 1, 1)
}

// poolGrantBatch is grantBatch for a lot of pool, effective from
// effective (nil: from creation).
func poolGrantBatch(acct storage.Account, lotID, pool string, amount int64, effective *time.Time) *storage.Batch {
	b := grantBatch(acct, "op-"+lotID, "", lotID, amount, nil, t0)
	b.Lots[0].Pool, b.Lots[0].EffectiveAt = pool, effective
	e := &b.Entries[0]
	e.Pool, e.EffectiveAt = pool, effective
	e.Hash = storage.EntryHash(acct.HeadHash, e)
	b.Accounts[0].HeadHash = e.Hash
	return b
}

// poolGrant locks (creating) account and applies poolGrantBatch.
func poolGrant(t *testing.T, s storage.Store, account, lotID, pool string, amount int64, effective *time.Time) {
	t.Helper()
	err := s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{account}, true, t0)
		if err != nil {
			return err
		}
		return tx.Apply(ctx, poolGrantBatch(accts[0], lotID, pool, amount, effective))
	})
	require.NoError(t, err)
}

// lotByID returns the lot id among lots, failing when it is not there.
func lotByID(t *testing.T, lots []storage.Lot, id string) storage.Lot {
	t.Helper()
	for _, l := range lots {
		if l.ID == id {
			return l
		}
	}
	require.Failf(t, "lot missing", "lot %s not among %d lots", id, len(lots))
	return storage.Lot{}
}

// testPoolFieldsRoundTrip: a lot's pool and effective_at, an entry's
// pool, feature, quantity and effective_at and a hold's pool read back as
// written from every read, and the stored hash covers them.
func testPoolFieldsRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	effective := t0.Add(36 * time.Hour).Add(123 * time.Microsecond)
	poolGrant(t, s, "u", "lot-img", "image", 100, &effective)
	poolGrant(t, s, "u", "lot-def", "", 10, nil)
	// A consume priced by a feature, and a hold, both in "image".
	err := apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		prev := a.HeadHash
		e := entryOn(a, "op-use", "lot-img", storage.KindConsume, -8, "", nil)
		e.Pool, e.Feature, e.Quantity = "image", "render_hd", "3.25"
		e.Hash = storage.EntryHash(prev, &e)
		a.HeadHash = e.Hash
		exp := t0.Add(time.Hour)
		h := entryOn(a, "hold-1", "lot-img", storage.KindHold, -2, "", &exp)
		h.Pool = "image"
		h.Hash = storage.EntryHash(e.Hash, &h)
		a.HeadHash = h.Hash
		return &storage.Batch{
			Entries: []storage.Entry{e, h},
			Debits:  []storage.LotDebit{{Account: "u", LotID: "lot-img", Amount: 10}},
			Holds: []storage.Hold{{ID: "hold-1", Account: "u", Amount: 2, State: storage.HoldActive, ExpiresAt: exp, CreatedAt: t0,
				Lines: []storage.HoldLine{{LotID: "lot-img", Amount: 2}}, Pool: "image"}},
			Accounts: []storage.AccountUpdate{update(a)},
		}
	})
	require.NoError(t, err)

	check := func(what string, lots []storage.Lot) {
		t.Helper()
		img := lotByID(t, lots, "lot-img")
		require.Equal(t, "image", img.Pool, what)
		require.NotNil(t, img.EffectiveAt, what)
		require.True(t, effective.Equal(*img.EffectiveAt), "%s: effective_at %v", what, img.EffectiveAt)
		require.False(t, img.Debt, what)
		require.EqualValues(t, 90, img.Remaining, what)
		def := lotByID(t, lots, "lot-def")
		require.Equal(t, "", def.Pool, what)
		require.Nil(t, def.EffectiveAt, what)
	}
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	check("Lots", lots)
	_, open, err := s.AccountWithOpenLots(ctx, "u", t0)
	require.NoError(t, err)
	check("AccountWithOpenLots", open)
	check("Load", load(t, s, storage.LoadQuery{LotsOf: []string{"u"}}).Lots)
	check("Load by id", load(t, s, storage.LoadQuery{Lots: []storage.AccountID{{Account: "u", ID: "lot-img"}, {Account: "u", ID: "lot-def"}}}).Lots)
	err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		_, loaded, err := tx.LockAndLoad(ctx, []string{"u"}, false, t0, storage.LoadQuery{LotsOf: []string{"u"}})
		if err == nil {
			check("LockAndLoad", loaded.Lots)
		}
		return err
	})
	require.NoError(t, err)

	entries, err := s.Entries(ctx, storage.EntryQuery{Account: "u", Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 4)
	hold, use, def, img := entries[0], entries[1], entries[2], entries[3]
	require.Equal(t, "image", img.Pool)
	require.NotNil(t, img.EffectiveAt)
	require.True(t, effective.Equal(*img.EffectiveAt))
	require.Equal(t, "", def.Pool)
	require.Nil(t, def.EffectiveAt)
	require.Equal(t, "", def.Feature)
	require.Equal(t, "", def.Quantity)
	require.Equal(t, "image", use.Pool)
	require.Equal(t, "render_hd", use.Feature)
	require.Equal(t, "3.25", use.Quantity)
	require.Nil(t, use.EffectiveAt)
	require.Equal(t, "image", hold.Pool)
	var prev []byte
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		require.Equal(t, storage.EntryHash(prev, &e), e.Hash, "entry %d hashes as written, new fields included", e.Seq)
		prev = e.Hash
	}
	changed := use
	changed.Quantity = "3.26"
	require.NotEqual(t, use.Hash, storage.EntryHash(entries[2].Hash, &changed), "the quantity is hashed")

	hs, err := s.Holds(ctx, storage.HoldQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, hs, 1)
	require.Equal(t, "image", hs[0].Pool)
	hs = load(t, s, storage.LoadQuery{HoldsOf: []string{"u"}}).Holds
	require.Len(t, hs, 1)
	require.Equal(t, "image", hs[0].Pool)

	dumps, err := s.Scan(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, dumps, 1)
	check("Scan", dumps[0].Lots)
	require.Equal(t, entries[1], dumps[0].Entries[2], "Scan reads the entries' new fields")
	require.Equal(t, "image", dumps[0].Holds[0].Pool)
}

// testDebtLots: a debt lot (amount 0) may go below 0, loads and reads as
// open while its remaining is not 0, and is paid back up to 0, not past;
// other lots never go below 0; the account's balance may be negative.
func testDebtLots(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 5, nil)
	debtLot := storage.Lot{ID: "debt-1", Account: "u", OperationID: "op-debt", Source: "overdraft", Debt: true, CreatedAt: t0}

	// Below 0 is refused for an ordinary lot, new or stored.
	err := apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		return &storage.Batch{Debits: []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 6}}}
	})
	require.ErrorIs(t, err, storage.ErrInsufficientCredits)
	err = apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		bad := debtLot
		bad.ID, bad.Debt, bad.Amount = "not-debt", false, 0
		return &storage.Batch{Lots: []storage.Lot{bad}, Debits: []storage.LotDebit{{Account: "u", LotID: "not-debt", Amount: 1}}}
	})
	require.Error(t, err, "a new ordinary lot debited below 0")
	err = apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		bad := debtLot
		bad.Amount, bad.Remaining = 3, 0
		return &storage.Batch{Lots: []storage.Lot{bad}}
	})
	require.Error(t, err, "a debt lot's amount is 0")
	err = apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		bad := debtLot
		bad.Remaining = 1
		return &storage.Batch{Lots: []storage.Lot{bad}}
	})
	require.Error(t, err, "a debt lot's remaining is at or below 0")

	// A debt lot created and debited by one batch: spend 5 from lot-1 and
	// 7 more into debt.
	err = apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		e1 := entryOn(a, "op-debt", "lot-1", storage.KindConsume, -5, "", nil)
		e2 := entryOn(a, "op-debt", "debt-1", storage.KindConsume, -7, "", nil)
		return &storage.Batch{
			Lots:     []storage.Lot{debtLot},
			Entries:  []storage.Entry{e1, e2},
			Debits:   []storage.LotDebit{{Account: "u", LotID: "lot-1", Amount: 5}, {Account: "u", LotID: "debt-1", Amount: 7}},
			Accounts: []storage.AccountUpdate{update(a)},
		}
	})
	require.NoError(t, err)
	requireState(t, s, "u", -7, 3, 3)
	openDebt := func(what string, lots []storage.Lot, remaining int64) {
		t.Helper()
		var found []storage.Lot
		for _, l := range lots {
			if l.ID == "debt-1" {
				found = append(found, l)
			}
			require.NotEqual(t, "lot-1", l.ID, "%s: the spent lot is closed", what)
		}
		if remaining == 0 {
			require.Empty(t, found, "%s: a paid debt lot is closed", what)
			return
		}
		require.Len(t, found, 1, what)
		require.True(t, found[0].Debt, what)
		require.EqualValues(t, 0, found[0].Amount, what)
		require.EqualValues(t, remaining, found[0].Remaining, what)
	}
	reads := func(remaining int64) {
		t.Helper()
		openDebt("Load", load(t, s, storage.LoadQuery{LotsOf: []string{"u"}}).Lots, remaining)
		lots, err := s.Lots(ctx, storage.LotQuery{Account: "u", OnlyOpen: true, Now: t0.Add(time.Hour)})
		require.NoError(t, err)
		openDebt("Lots(OnlyOpen, Now)", lots, remaining)
		lots, err = s.Lots(ctx, storage.LotQuery{Account: "u", OnlyOpen: true})
		require.NoError(t, err)
		openDebt("Lots(OnlyOpen)", lots, remaining)
		_, lots, err = s.AccountWithOpenLots(ctx, "u", t0)
		require.NoError(t, err)
		openDebt("AccountWithOpenLots", lots, remaining)
		err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			_, loaded, err := tx.LockAndLoad(ctx, []string{"u"}, false, t0, storage.LoadQuery{LotsOf: []string{"u"}})
			if err == nil {
				openDebt("LockAndLoad", loaded.Lots, remaining)
			}
			return err
		})
		require.NoError(t, err)
	}
	reads(-7)

	// More debt, then paid back: credits raise it toward 0, never past.
	require.NoError(t, apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		return &storage.Batch{Debits: []storage.LotDebit{{Account: "u", LotID: "debt-1", Amount: 3}}}
	}))
	reads(-10)
	err = apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		return &storage.Batch{Credits: []storage.LotCredit{{Account: "u", LotID: "debt-1", Amount: 11}}}
	})
	require.Error(t, err, "a debt lot is paid up to 0, not past")
	reads(-10)
	require.NoError(t, apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		return &storage.Batch{Credits: []storage.LotCredit{{Account: "u", LotID: "debt-1", Amount: 4}}}
	}))
	reads(-6)
	require.NoError(t, apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		return &storage.Batch{Credits: []storage.LotCredit{{Account: "u", LotID: "debt-1", Amount: 6}}}
	}))
	reads(0)
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.EqualValues(t, 0, lotByID(t, lots, "debt-1").Remaining, "the paid debt lot stays, closed")
}

// testLotExpiries: Batch.LotExpiries changes a stored lot's expiry (to
// another instant or never), one the batch inserts, and one the batch
// also debits; the last change of a lot wins; an unknown lot is
// ErrNotFound and the batch writes nothing.
func testLotExpiries(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := t0.Add(24 * time.Hour)
	grant(t, s, "u", "", "lot-1", 10, &exp)
	grant(t, s, "u", "", "lot-2", 10, nil)
	expiryOf := func(id string) *time.Time {
		t.Helper()
		lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
		require.NoError(t, err)
		return lotByID(t, lots, id).ExpiresAt
	}
	setExpiry := func(x ...storage.LotExpiry) error {
		return apply(t, s, "u", func(a *storage.Account) *storage.Batch {
			e := entryOn(a, "op-x", x[0].LotID, storage.KindSetExpiry, 0, "", x[0].ExpiresAt)
			return &storage.Batch{Entries: []storage.Entry{e}, LotExpiries: x, Accounts: []storage.AccountUpdate{update(a)}}
		})
	}

	later := t0.Add(72 * time.Hour).Add(7 * time.Microsecond)
	require.NoError(t, setExpiry(storage.LotExpiry{Account: "u", LotID: "lot-1", ExpiresAt: &later}))
	require.True(t, later.Equal(*expiryOf("lot-1")), "extended")
	require.Nil(t, expiryOf("lot-2"), "another lot is untouched")
	require.NoError(t, setExpiry(storage.LotExpiry{Account: "u", LotID: "lot-1", ExpiresAt: nil}))
	require.Nil(t, expiryOf("lot-1"), "never")
	require.NoError(t, setExpiry(storage.LotExpiry{Account: "u", LotID: "lot-2", ExpiresAt: &exp}))
	require.True(t, exp.Equal(*expiryOf("lot-2")))

	// The last change of a lot in one batch wins.
	first, last := t0.Add(time.Hour), t0.Add(2*time.Hour)
	require.NoError(t, setExpiry(
		storage.LotExpiry{Account: "u", LotID: "lot-1", ExpiresAt: &first},
		storage.LotExpiry{Account: "u", LotID: "lot-1", ExpiresAt: &last}))
	require.True(t, last.Equal(*expiryOf("lot-1")))

	// Unknown lots, or a lot of another account: nothing written.
	grant(t, s, "v", "", "lot-v", 10, nil)
	for _, x := range []storage.LotExpiry{
		{Account: "u", LotID: "nope", ExpiresAt: &first},
		{Account: "u", LotID: "lot-v", ExpiresAt: &first},
	} {
		err := setExpiry(storage.LotExpiry{Account: "u", LotID: "lot-2", ExpiresAt: nil}, x)
		require.ErrorIs(t, err, storage.ErrNotFound, "lot %s", x.LotID)
		require.True(t, exp.Equal(*expiryOf("lot-2")), "the refused batch changed no expiry")
		requireState(t, s, "u", 20, 6, 6)
	}

	// A lot the batch inserts, and a lot the batch debits, in one batch
	// with their expiry changes.
	soon := t0.Add(30 * time.Minute)
	err := apply(t, s, "u", func(a *storage.Account) *storage.Batch {
		b := grantBatch(*a, "op-3", "", "lot-3", 10, nil, t0)
		*a = storage.Account{ID: a.ID, Balance: a.Balance + 10, Seq: a.Seq + 1, HeadHash: b.Entries[0].Hash}
		e := entryOn(a, "op-4", "lot-2", storage.KindExpire, -10, "", nil)
		b.Entries = append(b.Entries, e)
		b.Debits = []storage.LotDebit{{Account: "u", LotID: "lot-2", Amount: 10}}
		b.LotExpiries = []storage.LotExpiry{{Account: "u", LotID: "lot-3", ExpiresAt: &soon}, {Account: "u", LotID: "lot-2", ExpiresAt: &t0}}
		b.Accounts = []storage.AccountUpdate{update(a)}
		return b
	})
	require.NoError(t, err)
	require.True(t, soon.Equal(*expiryOf("lot-3")), "a new lot is stored with its changed expiry")
	require.True(t, t0.Equal(*expiryOf("lot-2")), "a debited lot gets its expiry too")
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.EqualValues(t, 0, lotByID(t, lots, "lot-2").Remaining, "and its debit")
	requireState(t, s, "u", 20, 8, 8)
}

// testEntriesByPool: EntryQuery.Pool keeps one pool's entries (the
// default pool "" included), pages by BeforeSeq and Limit within it; nil
// reads every pool.
func testEntriesByPool(t *testing.T, s storage.Store) {
	ctx := t.Context()
	pools := []string{"", "chat", "image", "chat", "", "chat"}
	for i, p := range pools {
		poolGrant(t, s, "u", "lot-"+string(rune('a'+i)), p, int64(i+1), nil)
	}
	poolGrant(t, s, "v", "lot-v", "chat", 1, nil)
	seqs := func(pool *string, before int64, limit int) []int64 {
		t.Helper()
		es, err := s.Entries(ctx, storage.EntryQuery{Account: "u", Pool: pool, BeforeSeq: before, Limit: limit})
		require.NoError(t, err)
		out := []int64{}
		for _, e := range es {
			if pool != nil {
				require.Equal(t, *pool, e.Pool)
			}
			out = append(out, e.Seq)
		}
		return out
	}
	chat, def, image, none := "chat", "", "image", "none"
	require.Equal(t, []int64{6, 5, 4, 3, 2, 1}, seqs(nil, 0, 10))
	require.Equal(t, []int64{6, 4, 2}, seqs(&chat, 0, 10))
	require.Equal(t, []int64{6, 4}, seqs(&chat, 0, 2))
	require.Equal(t, []int64{2}, seqs(&chat, 4, 2))
	require.Equal(t, []int64{5, 1}, seqs(&def, 0, 10))
	require.Equal(t, []int64{1}, seqs(&def, 5, 10))
	require.Equal(t, []int64{3}, seqs(&image, 0, 10))
	require.Equal(t, []int64{}, seqs(&none, 0, 10))
}
