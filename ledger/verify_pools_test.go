package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// poolHistory writes, through the store, a history in two pools: a dated
// grant in "image", a grant in "", a consume of "image" past its lot into
// a debt lot, and a change of the "" lot's expiry. tamper may change the
// records before they are written.
func poolHistory(t *testing.T, s storage.Store, tamper func(b *storage.Batch)) {
	t.Helper()
	err := s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, true, t0)
		if err != nil {
			return err
		}
		a := accts[0]
		var head []byte
		var seq int64
		entry := func(e storage.Entry) storage.Entry {
			seq++
			e.Account, e.Seq, e.CreatedAt = "u", seq, t0
			e.Hash = storage.EntryHash(head, &e)
			head = e.Hash
			return e
		}
		start, exp, later := t0.Add(time.Hour), t0.Add(24*time.Hour), t0.Add(48*time.Hour)
		b := &storage.Batch{
			Lots: []storage.Lot{
				{ID: "img", Account: "u", OperationID: "g1", Amount: 10, Remaining: 0, CreatedAt: t0, Pool: "image", EffectiveAt: &start},
				{ID: "def", Account: "u", OperationID: "g2", Amount: 5, Remaining: 5, CreatedAt: t0, ExpiresAt: &later},
				{ID: "debt", Account: "u", OperationID: "c1", Amount: 0, Remaining: -3, CreatedAt: t0, Pool: "image", Debt: true},
			},
			Entries: []storage.Entry{
				entry(storage.Entry{ID: "e1", OperationID: "g1", LotID: "img", Kind: storage.KindGrant, Amount: 10, BalanceAfter: 10, Pool: "image", EffectiveAt: &start}),
				entry(storage.Entry{ID: "e2", OperationID: "g2", LotID: "def", Kind: storage.KindGrant, Amount: 5, BalanceAfter: 5, ExpiresAt: &exp}),
				entry(storage.Entry{ID: "e3", OperationID: "c1", LotID: "img", Kind: storage.KindConsume, Amount: -10, BalanceAfter: 0, Pool: "image", Feature: "render", Quantity: "13"}),
				entry(storage.Entry{ID: "e4", OperationID: "c1", LotID: "debt", Kind: storage.KindConsume, Amount: -3, BalanceAfter: -3, Pool: "image", Feature: "render", Quantity: "13"}),
				entry(storage.Entry{ID: "e5", OperationID: "x1", LotID: "def", Kind: storage.KindSetExpiry, BalanceAfter: 5, ExpiresAt: &later,
					Metadata: map[string]string{storage.MetaPreviousExpiresAt: storage.FormatMetaTime(exp)}}),
			},
		}
		if tamper != nil {
			tamper(b)
		}
		b.Accounts = []storage.AccountUpdate{{ID: "u", Balance: 2, Seq: seq, HeadHash: head, NextExpiryAt: &later, NextGrantAt: a.NextGrantAt}}
		return tx.Apply(ctx, b)
	})
	require.NoError(t, err)
}

// TestVerifyPools: Verify runs each pool's balance, accepts debt lots
// and set_expiry entries, and reports a lot whose pool, effective time or
// expiry disagrees with its history.
func TestVerifyPools(t *testing.T) {
	t.Parallel()
	verify := func(tamper func(b *storage.Batch)) *ledger.VerifyReport {
		t.Helper()
		b := setup(t, testKindsMemory, nil)
		poolHistory(t, b.store, tamper)
		rep, err := b.l.Verify(t.Context())
		require.NoError(t, err)
		return rep
	}
	rep := verify(nil)
	require.True(t, rep.OK(), "%v", rep.Violations)
	require.Equal(t, 3, rep.Lots)

	for name, c := range map[string]struct {
		tamper func(b *storage.Batch)
		want   string
	}{
		"lot pool": {func(b *storage.Batch) { b.Lots[1].Pool = "image" }, `is in pool "image" but its grant entry says ""`},
		"effective": {func(b *storage.Batch) { b.Lots[0].EffectiveAt = nil },
			"is effective from its creation but its grant entry says"},
		"expiry": {func(b *storage.Batch) { b.Lots[1].ExpiresAt = b.Entries[1].ExpiresAt },
			"but its last set_expiry entry (5) says"},
		"entry pool": {func(b *storage.Batch) { b.Entries[3].Pool = "" }, `is in pool "image" but an entry on it says ""`},
	} {
		rep := verify(c.tamper)
		require.False(t, rep.OK(), name)
		var all []string
		for _, v := range rep.Violations {
			all = append(all, v.String())
		}
		require.Contains(t, fmtJoin(all), c.want, name)
	}
}

func fmtJoin(ss []string) string { return strings.Join(ss, "\n") }
