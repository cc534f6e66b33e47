package ledger_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// overdraftCatalog: "metered" may overdraw the default pool by 50,
// "prepaid" not at all.
func overdraftCatalog() *policy.Catalog {
	return &policy.Catalog{Plans: []policy.Plan{
		{ID: "metered", Overdraft: map[string]decimal.Decimal{"": d("50")}},
		{ID: "prepaid"},
	}}
}

func requireOwed(t *testing.T, b *bundle, account, avail, owed string) {
	t.Helper()
	bal, err := b.l.Balance(t.Context(), account)
	require.NoError(t, err)
	require.True(t, d(avail).Equal(bal.Available), "available: want %s, got %s", avail, bal.Available)
	require.True(t, d(owed).Equal(bal.Owed), "owed: want %s, got %s", owed, bal.Owed)
}

func entryCount(t *testing.T, b *bundle, account string) int {
	t.Helper()
	page, err := b.l.Entries(t.Context(), account, &ledger.ListOpts{Limit: ledger.MaxPageSize})
	require.NoError(t, err)
	return len(page.Entries)
}

func grantOD(t *testing.T, b *bundle, account, key, amount string) *ledger.Receipt {
	t.Helper()
	rec, err := b.l.Grant(t.Context(), ledger.GrantParams{Account: account, IdempotencyKey: key, Amount: d(amount)})
	require.NoError(t, err)
	return rec
}

func TestOverdraftConsumeThenGrantPaysDebt(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: overdraftCatalog()})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "metered"}))
		grantOD(t, b, "u", "g1", "30")
		snaps := []balanceSnap{snap(t, b, "u")}

		// 60 of 30: the lot's 30, then 30 owed.
		b.clock.Add(time.Minute)
		rec, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("60"), IdempotencyKey: "c1"})
		require.NoError(t, err)
		require.True(t, rec.Balance.IsZero())
		require.Len(t, rec.Entries, 2)
		require.Equal(t, ledger.KindConsume, rec.Entries[0].Kind)
		require.True(t, d("-30").Equal(rec.Entries[0].Amount))
		require.Equal(t, ledger.KindConsume, rec.Entries[1].Kind)
		require.True(t, d("-30").Equal(rec.Entries[1].Amount))
		require.Equal(t, storage.SourceOverdraft, rec.Entries[1].Source)
		debtLot := rec.Entries[1].LotID
		requireOwed(t, b, "u", "0", "30")
		snaps = append(snaps, snap(t, b, "u"))

		// Past the limit: refused, nothing written.
		n := entryCount(t, b, "u")
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("21")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		require.Equal(t, n, entryCount(t, b, "u"))
		// Holds never overdraw.
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		require.Equal(t, n, entryCount(t, b, "u"))
		// Down to exactly minus the limit.
		b.clock.Add(time.Minute)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("20")})
		require.NoError(t, err)
		requireOwed(t, b, "u", "0", "50")
		snaps = append(snaps, snap(t, b, "u"))
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("0.000001")})
		require.Error(t, err)

		// The next grant pays the debt first: its grant entry for all 80,
		// then 50 moved from the new lot to the debt lot.
		b.clock.Add(time.Minute)
		rec = grantOD(t, b, "u", "g2", "80")
		require.Len(t, rec.Entries, 3)
		g, out, in := rec.Entries[0], rec.Entries[1], rec.Entries[2]
		require.Equal(t, ledger.KindGrant, g.Kind)
		require.True(t, d("80").Equal(g.Amount))
		require.Equal(t, ledger.KindSettle, out.Kind)
		require.Equal(t, g.LotID, out.LotID)
		require.True(t, d("-50").Equal(out.Amount))
		require.Equal(t, ledger.KindSettle, in.Kind)
		require.Equal(t, debtLot, in.LotID)
		require.True(t, d("50").Equal(in.Amount))
		require.True(t, d("30").Equal(rec.Balance))
		requireOwed(t, b, "u", "30", "0")
		snaps = append(snaps, snap(t, b, "u"))
		// A replay of the grant pays nothing more.
		again := grantOD(t, b, "u", "g2", "80")
		require.True(t, again.Replayed)
		requireOwed(t, b, "u", "30", "0")

		// On a plan without an overdraft, the v0.2 rule.
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "prepaid"}))
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("31")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		requireVerified(t, b)
		b.clock.Add(time.Minute)
		requireBalanceAtAgrees(t, b, "u", snaps)
		for _, s := range snaps {
			got, err := b.l.BalanceAt(ctx, "u", s.at)
			require.NoError(t, err)
			require.True(t, s.bal.Owed.Equal(got.Owed), "owed at %s", s.at)
		}
	})
}

func TestOverdraftReverse(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: overdraftCatalog()})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "metered"}))
		grantOD(t, b, "u", "g1", "10")
		rec, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("25")})
		require.NoError(t, err)
		requireOwed(t, b, "u", "0", "15")

		// Part of it: the debt shrinks first.
		five := d("5")
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: rec.OperationID, Amount: &five})
		require.NoError(t, err)
		requireOwed(t, b, "u", "0", "10")
		// The rest: the debt is gone, then the lot has its 10 back.
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: rec.OperationID})
		require.NoError(t, err)
		requireOwed(t, b, "u", "10", "0")
		requireVerified(t, b)

		// Overdrawn, paid by a grant, then reversed: the paid part comes
		// back as a lot of its own.
		rec, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("30")}) // 10 + 20 owed
		require.NoError(t, err)
		grantOD(t, b, "u", "g2", "25") // pays 20, 5 left
		requireOwed(t, b, "u", "5", "0")
		rev, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: rec.OperationID, IdempotencyKey: "refund-1"})
		require.NoError(t, err)
		requireOwed(t, b, "u", "35", "0")
		replayed, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: rec.OperationID, IdempotencyKey: "refund-1"})
		require.NoError(t, err)
		require.True(t, replayed.Replayed)
		requireOwed(t, b, "u", "35", "0")
		var back bool
		for _, e := range rev.Entries {
			if e.Kind == ledger.KindGrant {
				back = true
				require.Equal(t, ledger.SourceReversal, e.Source)
				require.Equal(t, rec.OperationID, e.Ref)
				require.True(t, d("20").Equal(e.Amount))
			}
		}
		require.True(t, back)
		// Nothing left to reverse.
		rev, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: rec.OperationID})
		require.NoError(t, err)
		require.True(t, rev.NothingToReverse)
		requireVerified(t, b)
	})
}

func TestOverdraftCapture(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: overdraftCatalog()})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "metered"}))
		grantOD(t, b, "u", "g1", "30")
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("20")})
		require.NoError(t, err)
		// Past the limit: 20 held + 10 available + 50 overdraft = 80.
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("81")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		rec, err := b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("45")})
		require.NoError(t, err)
		requireOwed(t, b, "u", "0", "15")
		again, err := b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("45")})
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, rec.OperationID, again.OperationID)
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("46")})
		require.ErrorIs(t, err, ledger.ErrHoldNotActive)
		requireOwed(t, b, "u", "0", "15")
		requireVerified(t, b)
	})
}

func TestPlanV03CatalogRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		plan policy.Plan
		want error
	}{
		{"overdraft below zero", policy.Plan{ID: "p", Overdraft: map[string]decimal.Decimal{"": d("-1")}}, policy.ErrInvalidCatalog},
		{"rollover over 100%", policy.Plan{ID: "p", Rollover: &policy.Rollover{Percent: 101}}, policy.ErrInvalidCatalog},
		{"rollover negative", policy.Plan{ID: "p", Rollover: &policy.Rollover{Percent: -5}}, policy.ErrInvalidCatalog},
		{"overdraft finer than the scale", policy.Plan{ID: "p", Overdraft: map[string]decimal.Decimal{"": d("0.5")}}, ledger.ErrInvalidAmount},
		{"invoice amount finer than the scale", policy.Plan{ID: "p", Allocation: policy.PerInvoice(d("1.5"), "")}, ledger.ErrInvalidAmount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ledger.New(testKindsMemory(t), &ledger.Config{Catalog: &policy.Catalog{Plans: []policy.Plan{tc.plan}}})
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestOverdraftReversedGrantOwesAgain(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: overdraftCatalog()})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "metered"}))
		_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("20")}) // all owed
		require.NoError(t, err)
		pack := grantOD(t, b, "u", "pack", "50") // pays 20, 30 left
		requireOwed(t, b, "u", "30", "0")
		// The pack is charged back: its 30 go, and the 20 it paid are owed again.
		rev, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: pack.OperationID})
		require.NoError(t, err)
		require.Len(t, rev.Entries, 2)
		requireOwed(t, b, "u", "0", "20")
		rev, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: pack.OperationID})
		require.NoError(t, err)
		require.True(t, rev.NothingToReverse)
		// Another grant pays it again.
		grantOD(t, b, "u", "pack2", "25")
		requireOwed(t, b, "u", "5", "0")
		requireVerified(t, b)
	})
}

// TestOverdraftConcurrent: concurrent consumes never overdraw past the
// limit, and exactly what fits succeeds.
func TestOverdraftConcurrent(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: overdraftCatalog()})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "metered"}))
		grantOD(t, b, "u", "g", "20")
		const n = 10 // of 10 each: 20 available + 50 overdraft = 7 fit
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("10")})
				errs <- err
			}()
		}
		ok := 0
		for range n {
			if err := <-errs; err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
			}
		}
		require.Equal(t, 7, ok)
		requireOwed(t, b, "u", "0", "50")
		requireVerified(t, b)
	})
}
