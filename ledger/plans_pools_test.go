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

// poolsPlanCatalog: "team" grants 100 into the default pool and 10 into
// "image" each calendar month, lets "image" overdraw by 5, and rolls up to
// 20 of each pool over; "seats" grants per invoice into both pools.
func poolsPlanCatalog() *policy.Catalog {
	return &policy.Catalog{Plans: []policy.Plan{
		{ID: "team", Allocation: policy.InPools(policy.MonthlyCalendar(decimal.Zero, "monthly_refresh"),
			policy.PoolAmount{Pool: "", Amount: d("100")}, policy.PoolAmount{Pool: "image", Amount: d("10")}),
			Expiry: policy.AtPeriodEnd(), Overdraft: map[string]decimal.Decimal{"image": d("5")}, Rollover: &policy.Rollover{Max: d("20")}},
		{ID: "seats", Allocation: policy.InPools(policy.PerInvoice(decimal.Zero, ""),
			policy.PoolAmount{Pool: "chat", Amount: d("500")}, policy.PoolAmount{Pool: "image", Amount: d("50")}), Expiry: policy.AfterDays(30)},
	}}
}

func requirePool(t *testing.T, b *bundle, account, pool, avail, owed string) {
	t.Helper()
	bal, err := b.l.Balance(t.Context(), account)
	require.NoError(t, err)
	pb := bal.Pools[pool]
	require.True(t, d(avail).Equal(pb.Available), "pool %q available: want %s, got %s", pool, avail, pb.Available)
	require.True(t, d(owed).Equal(pb.Owed), "pool %q owed: want %s, got %s", pool, owed, pb.Owed)
}

func TestPlanInPoolsOverdraftAndRollover(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: poolsPlanCatalog()})
		ctx := t.Context()
		res, err := b.l.AssignPlan(ctx, ledger.PlanParams{Account: "u", Plan: "team"})
		require.NoError(t, err)
		require.True(t, d("110").Equal(res.Granted))
		requirePool(t, b, "u", "", "100", "0")
		requirePool(t, b, "u", "image", "10", "0")

		// "image" overdraws by 3; the default pool has no overdraft.
		b.clock.Add(time.Minute)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Pool: "image", Amount: d("13")})
		require.NoError(t, err)
		requirePool(t, b, "u", "image", "0", "3")
		requirePool(t, b, "u", "", "100", "0")
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Pool: "image", Amount: d("3")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits, "past image's limit")
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("101")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits, "the default pool has no overdraft")
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("70")})
		require.NoError(t, err)
		snaps := []balanceSnap{snap(t, b, "u")}

		// December: the default pool rolls 20 of its 30 over; image's new
		// grant pays its debt first.
		b.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		distribute(t, b)
		distribute(t, b)
		requirePool(t, b, "u", "", "120", "0")
		requirePool(t, b, "u", "image", "7", "0")
		snaps = append(snaps, snap(t, b, "u"))
		require.Len(t, rolloverEntries(t, b, "u"), 1)
		requireVerified(t, b)
		b.clock.Add(time.Minute)
		requireBalanceAtAgrees(t, b, "u", snaps)

		// A per-invoice plan granting into two pools.
		rec, err := b.l.GrantInvoice(ctx, ledger.InvoiceParams{Account: "v", Plan: "seats", InvoiceID: "in_9", PeriodStart: b.clock.Now()})
		require.NoError(t, err)
		require.Len(t, rec.Entries, 2)
		requirePool(t, b, "v", "chat", "500", "0")
		requirePool(t, b, "v", "image", "50", "0")
		requireVerified(t, b)
	})
}
