package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// testCatalog: free 50 per calendar month expiring at the period end,
// yearly 1000 per anniversary month expiring after 30 days, a pay-only
// plan, and a 10-credit signup gift.
func testCatalog(loc *time.Location) *policy.Catalog {
	return &policy.Catalog{
		Location:    loc,
		DefaultPlan: "free",
		SignupGift:  &policy.Gift{Amount: d("10"), Expiry: policy.AfterDays(30)},
		Plans: []policy.Plan{
			{ID: "free", Allocation: policy.MonthlyCalendar(d("50"), "monthly_refresh"), Expiry: policy.AtPeriodEnd()},
			{ID: "yearly", Allocation: policy.MonthlyAnniversary(d("1000"), "subscription_renewal"), Expiry: policy.AfterDays(30)},
			{ID: "pay_only", Allocation: policy.None(), Expiry: policy.AfterDays(30)},
		},
		Packs: []policy.Pack{{ID: "p100", Amount: d("100"), Expiry: policy.AfterDays(30)}},
	}
}

func distribute(t *testing.T, b *bundle) *ledger.DistributeResult {
	t.Helper()
	res, err := b.l.Distribute(t.Context(), nil)
	require.NoError(t, err)
	require.True(t, res.Complete)
	return res
}

// grantCount counts an account's grant entries by source.
func grantCount(t *testing.T, b *bundle, account, source string) int {
	t.Helper()
	page, err := b.l.Entries(t.Context(), account, &ledger.ListOpts{Limit: ledger.MaxPageSize})
	require.NoError(t, err)
	n := 0
	for _, e := range page.Entries {
		if e.Kind == ledger.KindGrant && e.Source == source {
			n++
		}
	}
	return n
}

func TestSetPlanGrantsGiftAndPeriodOnce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "free"}))
		requireBalance(t, b, "u", "60") // gift 10 + November's 50
		// A retried signup changes nothing.
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "free"}))
		requireBalance(t, b, "u", "60")
		// The run in the same month owes nothing.
		res := distribute(t, b)
		require.Equal(t, 0, res.Granted)

		err := b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "gold"})
		require.ErrorIs(t, err, ledger.ErrUnknownPlan)

		// Upgrading grants the new plan's period; the gift is not repeated.
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "yearly"}))
		requireBalance(t, b, "u", "1060")
		require.Equal(t, 1, grantCount(t, b, "u", "register_gift"))
		requireVerified(t, b)
	})
}

func TestDistributeMonthly(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		for i := range 5 {
			require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: fmt.Sprint("free-", i), Plan: "free"}))
		}
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "yr", Plan: "yearly"}))
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "payer", Plan: "pay_only"}))

		// Twice in the same period grants nothing more.
		require.Equal(t, 0, distribute(t, b).Granted)

		// December 1st, 00:00 UTC: November's free credits expire as
		// December's land, in one run. The yearly account's anniversary
		// (the 10th) is not here yet.
		b.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		res := distribute(t, b)
		require.Equal(t, 5, res.Granted)
		require.Equal(t, 5, res.Expired)
		require.True(t, d("250").Equal(res.GrantedCredits))
		require.True(t, d("250").Equal(res.ExpiredCredits))
		require.Equal(t, 0, res.Errors)
		requireBalance(t, b, "free-0", "60")

		// A run three days late the same month grants nothing again.
		b.clock.Set(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
		res = distribute(t, b)
		require.Equal(t, 0, res.Granted)

		// The anniversary on the 10th grants the yearly account once.
		b.clock.Set(time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC))
		res = distribute(t, b)
		require.Equal(t, 1, res.Granted)
		require.Equal(t, 2, grantCount(t, b, "yr", "subscription_renewal"))
		require.Equal(t, 0, grantCount(t, b, "payer", "monthly_refresh"))

		// A missed month (no run in January) grants February only.
		b.clock.Set(time.Date(2027, 2, 3, 0, 0, 0, 0, time.UTC))
		distribute(t, b)
		require.Equal(t, 3, grantCount(t, b, "free-0", "monthly_refresh"))
		requireVerified(t, b)
	})
}

func TestDistributeBackfill(t *testing.T) {
	t.Parallel()
	cat := testCatalog(nil)
	cat.Backfill = true
	cat.Plans[0].Expiry = policy.AfterDays(90)
	b := setup(t, testKindsMemory, &ledger.Config{Catalog: cat})
	require.NoError(t, b.l.SetPlan(t.Context(), ledger.PlanParams{Account: "u", Plan: "free"}))
	b.clock.Set(time.Date(2027, 2, 3, 0, 0, 0, 0, time.UTC))
	res := distribute(t, b)
	require.Equal(t, 3, res.Granted, "December, January and February")
	require.Equal(t, 4, grantCount(t, b, "u", "monthly_refresh"))
}

func TestDistributeTimeZone(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	b := setup(t, testKindsMemory, &ledger.Config{Catalog: testCatalog(shanghai)})
	ctx := t.Context()
	require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "free"}))
	// 16:30 UTC on November 30th is already December 1st in Shanghai: the
	// December grant is due, and November's lot has expired at the
	// Shanghai month end.
	b.clock.Set(time.Date(2026, 11, 30, 16, 30, 0, 0, time.UTC))
	res := distribute(t, b)
	require.Equal(t, 1, res.Granted)
	require.Equal(t, 1, res.Expired)
	bal, err := b.l.Balance(ctx, "u")
	require.NoError(t, err)
	require.True(t, d("60").Equal(bal.Available))
	want := time.Date(2027, 1, 1, 0, 0, 0, 0, shanghai)
	var freeLot *ledger.Lot
	for i := range bal.Lots {
		if bal.Lots[i].Source == "monthly_refresh" {
			freeLot = &bal.Lots[i]
		}
	}
	require.NotNil(t, freeLot)
	require.True(t, want.Equal(*freeLot.ExpiresAt), "expires at %s", freeLot.ExpiresAt)
}

func TestDistributeDefaultPlanAndUnknownPlan(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		cat := testCatalog(nil)
		b := setup(t, newStore, &ledger.Config{Catalog: cat})
		ctx := t.Context()
		// An account created by a pack purchase is on the default plan.
		_, err := b.l.GrantPack(ctx, "buyer", "p100", "pay-1")
		require.NoError(t, err)
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "gone", Plan: "yearly"}))

		// The catalog loses the yearly plan (a deploy dropped it): that
		// account is an error, counted and logged, and the run goes on.
		cat2 := testCatalog(nil)
		cat2.Plans = cat2.Plans[:1]
		l2, err := ledger.New(b.store, &ledger.Config{Catalog: cat2, Now: b.clock.Now})
		require.NoError(t, err)
		b.clock.Set(time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC))
		res, err := l2.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, 2, res.Accounts)
		require.Equal(t, 1, res.Processed)
		require.Equal(t, 1, res.Errors)
		require.Equal(t, 1, res.Granted)
		require.Equal(t, 1, grantCount(t, b, "buyer", "monthly_refresh"))
		// It is left alone for RetryFailedAfter, so that a resumed run
		// goes on with the others, then tried again rather than dropped.
		res, err = l2.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, 0, res.Errors)
		require.Equal(t, 0, res.Accounts)
		b.clock.Add(ledger.DefaultRetryFailedAfter)
		res, err = l2.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, 1, res.Errors)
		requireVerified(t, b)
	})
}

func TestDistributeBudgetResumes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		const n = 250
		ps := make([]ledger.PlanParams, n)
		for i := range ps {
			ps[i] = ledger.PlanParams{Account: fmt.Sprintf("user-%04d", i), Plan: "free"}
		}
		require.NoError(t, b.l.SetPlans(ctx, ps))
		// A deadline already past starts no chunk at all.
		past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		res, err := b.l.Distribute(past, &ledger.DistributeOpts{ChunkSize: 100})
		require.NoError(t, err)
		require.False(t, res.Complete)
		require.Equal(t, 0, res.Accounts)

		total := 0
		calls := 0
		for {
			calls++
			// A budget so small that each call gets one chunk in.
			res, err := b.l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: 100, Budget: time.Nanosecond})
			require.NoError(t, err)
			total += res.Granted
			if res.Complete {
				break
			}
			require.Less(t, calls, 10)
		}
		require.Equal(t, n, total)
		// Three calls of one chunk each; the third has no budget left for
		// the final check for accounts skipped behind locks, which the
		// fourth makes.
		require.Equal(t, 4, calls)
		require.Equal(t, 0, distribute(t, b).Granted)
		requireVerified(t, b)
	})
}

func TestConcurrentDistributeGrantsOnce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		const n = 2000
		ps := make([]ledger.PlanParams, n)
		for i := range ps {
			plan := "free"
			if i%3 == 0 {
				plan = "yearly"
			}
			ps[i] = ledger.PlanParams{Account: fmt.Sprintf("user-%05d", i), Plan: plan, Anchor: t0}
		}
		require.NoError(t, b.l.SetPlans(ctx, ps))
		const runners = 5
		results := make([]*ledger.DistributeResult, runners)
		var wg sync.WaitGroup
		errs := make(chan error, runners)
		for i := range runners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := b.l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: 100})
				results[i] = res
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		granted := 0
		for _, r := range results {
			granted += r.Granted
		}
		require.Equal(t, n, granted, "each account granted exactly once across the runners")
		require.Equal(t, 0, distribute(t, b).Granted)
		requireVerified(t, b)
	})
}

func TestSetPlansThenDistribute(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		err := b.l.SetPlans(ctx, []ledger.PlanParams{{Account: "a", Plan: "free"}, {Account: "b", Plan: "nope"}})
		require.ErrorIs(t, err, ledger.ErrUnknownPlan)
		_, err = b.l.Balance(ctx, "a")
		require.ErrorIs(t, err, ledger.ErrNotFound, "a refused import writes nothing")

		require.NoError(t, b.l.SetPlans(ctx, []ledger.PlanParams{
			{Account: "a", Plan: "free"}, {Account: "b", Plan: "yearly"}, {Account: "a", Plan: "yearly"},
		}))
		bal, err := b.l.Balance(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "yearly", bal.Plan, "the later entry wins")
		require.True(t, bal.Available.IsZero(), "SetPlans grants nothing itself")
		res := distribute(t, b)
		require.Equal(t, 2, res.Granted)
		requireBalance(t, b, "a", "1000")
	})
}

// A due account whose period was granted already (here: SetPlan granted
// it, then two imports with SetPlans moved it to another plan and back,
// which made it due again) is not granted twice, and the accounts of its
// chunk still get theirs.
func TestDistributeSkipsPeriodsGrantedAlready(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "b", Plan: "free"}))
		requireBalance(t, b, "b", "60") // gift 10 + November's 50
		require.NoError(t, b.l.SetPlans(ctx, []ledger.PlanParams{{Account: "b", Plan: "pay_only"}}))
		require.NoError(t, b.l.SetPlans(ctx, []ledger.PlanParams{
			{Account: "a", Plan: "free"}, {Account: "b", Plan: "free"}, {Account: "c", Plan: "free"},
		}))

		res := distribute(t, b)
		require.Equal(t, 3, res.Accounts)
		require.Equal(t, 3, res.Processed)
		require.Zero(t, res.Errors)
		require.Equal(t, 2, res.Granted, "a and c get November; b had it")
		require.Equal(t, "100", res.GrantedCredits.String())
		requireBalance(t, b, "a", "50")
		requireBalance(t, b, "b", "60")
		requireBalance(t, b, "c", "50")
		require.Equal(t, 1, grantCount(t, b, "b", "monthly_refresh"))

		res = distribute(t, b)
		require.Zero(t, res.Granted, "and the account is no longer due")
		require.Zero(t, res.Accounts)
		requireVerified(t, b)
	})
}
