package ledger_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// TestCurrentPeriodGranted checks PlanParams.CurrentPeriodGranted: an
// imported account whose current period the old system already granted
// is first granted at the next period, by SetPlans and by SetPlan alike,
// while the same params without it are granted at once.
func TestCurrentPeriodGranted(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		ctx := t.Context()
		b := setup(t, newStore, &ledger.Config{Catalog: policy.ReferenceCatalog()})
		anchor := time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC) // periods start on the 20th at 09:00
		params := []ledger.PlanParams{
			{Account: "y-done", Plan: "pro_yearly", Anchor: anchor, CurrentPeriodGranted: true},
			{Account: "y-due", Plan: "pro_yearly", Anchor: anchor},
			{Account: "f-done", Plan: "free", CurrentPeriodGranted: true},
			{Account: "f-due", Plan: "free"},
			{Account: "m-done", Plan: "pro_monthly", CurrentPeriodGranted: true},
		}
		require.NoError(t, b.l.SetPlans(ctx, params))
		// SetPlan grants the signup gift but not the period.
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "s-done", Plan: "pro_yearly", Anchor: anchor, CurrentPeriodGranted: true}))
		requireBalance(t, b, "s-done", "50")

		res, err := b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, 2, res.Granted, "only the accounts without the flag")
		requireBalance(t, b, "y-done", "0")
		requireBalance(t, b, "f-done", "0")
		requireBalance(t, b, "m-done", "0")
		requireBalance(t, b, "y-due", "1000")
		requireBalance(t, b, "f-due", "50")
		requireBalance(t, b, "s-done", "50")

		// The same params again change nothing.
		require.NoError(t, b.l.SetPlans(ctx, params))
		res, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, 0, res.Granted)

		// Just before the next anniversary period nothing; at it, the
		// yearly accounts get their month.
		b.clock.Set(anchor.AddDate(0, 1, 0).Add(-time.Second))
		res, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, 0, res.Granted)
		b.clock.Set(anchor.AddDate(0, 1, 0))
		res, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, 3, res.Granted)
		requireBalance(t, b, "y-done", "1000")
		requireBalance(t, b, "s-done", "1050")
		requireBalance(t, b, "f-done", "0")

		// December: the free accounts' next calendar month.
		b.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		res, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, 2, res.Granted)
		requireBalance(t, b, "f-done", "50")
		requireVerified(t, b)
	})
}
