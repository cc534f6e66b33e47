package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// Regression tests for edge cases that lost or blocked credits (issue 11).

// requireNoAccount asserts that nothing was written for an account.
func requireNoAccount(t *testing.T, b *bundle, account string) {
	t.Helper()
	_, err := b.l.Balance(t.Context(), account)
	require.ErrorIs(t, err, ledger.ErrNotFound, "account %q should not exist", account)
}

func TestTimesOutsideTheRangeAreRefused(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		est := time.FixedZone("EST", -5*3600)

		// Year 10000 in UTC, written with a zone that shows 9999.
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "far", IdempotencyKey: "k1", Amount: d("10"),
			ExpiresAt: tp(time.Date(9999, 12, 31, 23, 59, 59, 0, est))})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		require.ErrorContains(t, err, "expiry")
		requireNoAccount(t, b, "far")

		// An anchor whose next grant lands in year 10000, and one far
		// beyond what SQLite's microseconds hold.
		for _, anchor := range []time.Time{
			time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
			time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
		} {
			err = b.l.SetPlan(ctx, ledger.PlanParams{Account: "anchor", Plan: "yearly", Anchor: anchor})
			require.ErrorIs(t, err, ledger.ErrInvalidArgument, "anchor %s", anchor)
			err = b.l.SetPlans(ctx, []ledger.PlanParams{{Account: "anchor", Plan: "yearly", Anchor: anchor}})
			require.ErrorIs(t, err, ledger.ErrInvalidArgument, "anchor %s", anchor)
		}
		requireNoAccount(t, b, "anchor")

		_, err = b.l.Distribute(ctx, &ledger.DistributeOpts{Now: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)

		// The last instant of the range is held and read back exactly by
		// every store, on every path.
		last := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
		rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "edge", IdempotencyKey: "k2", Amount: d("10"), ExpiresAt: &last})
		require.NoError(t, err)
		require.True(t, d("10").Equal(rec.Balance))
		bal, err := b.l.Balance(ctx, "edge")
		require.NoError(t, err)
		require.True(t, d("10").Equal(bal.Available))
		require.Len(t, bal.Lots, 1)
		require.True(t, last.Equal(*bal.Lots[0].ExpiresAt), "expiry read back as %s", bal.Lots[0].ExpiresAt)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "edge", Amount: d("4")})
		require.NoError(t, err)
		page, err := b.l.Entries(ctx, "edge", nil)
		require.NoError(t, err)
		require.Len(t, page.Entries, 2)
		res, err := b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.True(t, res.Complete)
		require.Zero(t, res.Errors)
		requireVerified(t, b)
	})
}

func TestSubMicrosecondExpiryIsRefused(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		// Stored with microseconds, now + 500ns is now: a lot born expired.
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("10"),
			ExpiresAt: tp(t0.Add(500 * time.Nanosecond))})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		requireNoAccount(t, b, "u")

		rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("10"),
			ExpiresAt: tp(t0.Add(time.Microsecond))})
		require.NoError(t, err)
		require.True(t, d("10").Equal(rec.Balance))
		requireBalance(t, b, "u", "10")
	})
}

// TestWriteInstantIsTakenAfterTheLock: a consume that waits for the
// account's lock must not spend a lot that expired while it waited.
func TestWriteInstantIsTakenAfterTheLock(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("10"),
			ExpiresAt: tp(t0.Add(time.Second))})
		require.NoError(t, err)

		// A transaction (a host's, say) holds the account's lock.
		locked, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- b.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
				if _, err := tx.LockAccounts(ctx, []string{"u"}, false, t0); err != nil {
					return err
				}
				close(locked)
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}()
		select {
		case <-locked:
		case <-ctx.Done():
			t.Fatal("the lock holder never got the lock")
		}

		consumed := make(chan error, 1)
		go func() {
			_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("10")})
			consumed <- err
		}()
		// Let the consume reach the lock, then let the lot expire while
		// it waits.
		time.Sleep(300 * time.Millisecond)
		b.clock.Set(t0.Add(2 * time.Second))
		close(release)
		require.NoError(t, <-holder)
		select {
		case err = <-consumed:
		case <-ctx.Done():
			t.Fatal("the consume never returned")
		}
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		requireBalance(t, b, "u", "0")
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		for _, e := range page.Entries {
			require.NotEqual(t, ledger.KindConsume, e.Kind, "an expired lot was spent")
		}
		requireVerified(t, b)
	})
}

func TestDistributeWithoutCatalogKeepsSchedules(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		// A first write puts the account on the default plan.
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("5")})
		require.NoError(t, err)
		require.Equal(t, 1, distribute(t, b).Granted)

		b.clock.Set(time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC))
		noDefault := testCatalog(nil)
		noDefault.DefaultPlan = ""
		for _, cat := range []*policy.Catalog{nil, noDefault} {
			l, err := ledger.New(b.store, &ledger.Config{Catalog: cat, Now: b.clock.Now})
			require.NoError(t, err)
			res, err := l.Distribute(ctx, nil)
			require.NoError(t, err)
			require.True(t, res.Complete)
			require.Zero(t, res.Granted)
			require.Zero(t, res.Errors)
		}
		// The real catalog is back: December is still owed, once.
		require.Equal(t, 1, distribute(t, b).Granted)
		require.Equal(t, 2, grantCount(t, b, "u", "monthly_refresh"))
		require.Equal(t, 0, distribute(t, b).Granted)
		requireVerified(t, b)
	})
}

// TestBudgetedRunsDoNotStarve: accounts that fail every time must not be
// served first by every call of a budgeted run.
func TestBudgetedRunsDoNotStarve(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		const failing, healthy = 4, 6
		var ps []ledger.PlanParams
		for i := range failing {
			ps = append(ps, ledger.PlanParams{Account: fmt.Sprintf("a-%d", i), Plan: "yearly"})
		}
		for i := range healthy {
			ps = append(ps, ledger.PlanParams{Account: fmt.Sprintf("z-%d", i), Plan: "free"})
		}
		require.NoError(t, b.l.SetPlans(ctx, ps))
		// The yearly plan is gone from the catalog: the "a-" accounts,
		// first in ID order, fail.
		cat := testCatalog(nil)
		cat.Plans = cat.Plans[:1]
		l, err := ledger.New(b.store, &ledger.Config{Catalog: cat, Now: b.clock.Now})
		require.NoError(t, err)

		var granted, errs int
		complete := false
		for calls := 0; calls < 3*(failing+healthy) && !complete; calls++ {
			res, err := l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: 1, Budget: time.Nanosecond})
			require.NoError(t, err)
			granted += res.Granted
			errs += res.Errors
			complete = res.Complete
		}
		require.True(t, complete, "the run never completed")
		require.Equal(t, healthy, granted)
		require.Equal(t, failing, errs)
		for i := range healthy {
			require.Equal(t, 1, grantCount(t, b, fmt.Sprintf("z-%d", i), "monthly_refresh"))
		}
		// Failing accounts are retried later, and counted again.
		b.clock.Add(ledger.DefaultRetryFailedAfter)
		res, err := l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, failing, res.Errors)
		require.Zero(t, res.Granted)
		requireVerified(t, b)
	})
}

func TestPlanKeysDoNotCollide(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		cat := &policy.Catalog{Plans: []policy.Plan{
			{ID: "pro", Allocation: policy.MonthlyCalendar(d("10"), "monthly_refresh"), Expiry: policy.AtPeriodEnd()},
			{ID: "pro:eu", Allocation: policy.MonthlyCalendar(d("20"), "monthly_refresh"), Expiry: policy.AtPeriodEnd()},
			{ID: "pro%3Aeu", Allocation: policy.MonthlyCalendar(d("30"), "monthly_refresh"), Expiry: policy.AtPeriodEnd()},
		}}
		b := setup(t, newStore, &ledger.Config{Catalog: cat})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "eu:alice", Plan: "pro"}))
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "alice", Plan: "pro:eu"}))
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "alice:x", Plan: "pro%3Aeu"}))
		requireBalance(t, b, "eu:alice", "10")
		requireBalance(t, b, "alice", "20")
		requireBalance(t, b, "alice:x", "30")
		b.clock.Set(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
		res := distribute(t, b)
		require.Equal(t, 3, res.Granted)
		require.Zero(t, res.Errors)
		requireBalance(t, b, "eu:alice", "10")
		requireBalance(t, b, "alice", "20")
		requireBalance(t, b, "alice:x", "30")
		requireVerified(t, b)
	})
}

func TestNewRefusesPlanAmountsFinerThanScale(t *testing.T) {
	t.Parallel()
	for _, alloc := range []policy.Allocation{
		policy.MonthlyCalendar(d("0.5"), ""),
		policy.MonthlyAnniversary(d("0.5"), ""),
	} {
		cat := &policy.Catalog{DefaultPlan: "half", Plans: []policy.Plan{{ID: "half", Allocation: alloc}}}
		_, err := ledger.New(testKindsMemory(t), &ledger.Config{Catalog: cat})
		require.ErrorIs(t, err, ledger.ErrInvalidAmount)
		require.ErrorContains(t, err, `plan "half"`)
		// At scale 1 the same catalog is fine.
		_, err = ledger.New(testKindsMemory(t), &ledger.Config{Catalog: cat, Scale: 1})
		require.NoError(t, err)
	}
}

// TestBackfillExpiresAsIfOnTime: a back-filled period's credits expire
// when they would have, had they been granted on time.
func TestBackfillExpiresAsIfOnTime(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		cat := policy.ReferenceCatalog()
		cat.Backfill = true
		b := setup(t, newStore, &ledger.Config{Catalog: cat})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "free", Plan: "free"}))
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "pro", Plan: "pro_yearly"}))

		// Three months without a run.
		b.clock.Set(time.Date(2027, 2, 3, 0, 0, 0, 0, time.UTC))
		distribute(t, b)
		// December's and January's credits would have expired already:
		// only February's remain, as after on-time runs.
		requireBalance(t, b, "free", "50")
		requireBalance(t, b, "pro", "1000")

		// With a longer expiry a missed period whose credits are still
		// valid is granted, expiring as it would have on time.
		cat45 := policy.ReferenceCatalog()
		cat45.Backfill = true
		cat45.Plans[0].Expiry = policy.AfterDays(45)
		l45, err := ledger.New(b.store, &ledger.Config{Catalog: cat45, Now: b.clock.Now})
		require.NoError(t, err)
		// On the plan since November; December and January are missed.
		b.clock.Set(t0)
		require.NoError(t, l45.SetPlan(ctx, ledger.PlanParams{Account: "late", Plan: "free"}))
		b.clock.Set(time.Date(2027, 2, 3, 0, 0, 0, 0, time.UTC))
		_, err = l45.Distribute(ctx, nil)
		require.NoError(t, err)
		bal, err := l45.Balance(ctx, "late")
		require.NoError(t, err)
		var expiries []time.Time
		for _, lot := range bal.Lots {
			if lot.Source == policy.SourceMonthlyRefresh {
				expiries = append(expiries, lot.ExpiresAt.UTC())
			}
		}
		// December (due Dec 1) would have expired on Jan 15: not granted.
		// January, due Jan 1, expires on Feb 15 as it would have on time;
		// February, the current period, 45 days from now.
		require.ElementsMatch(t, []time.Time{
			time.Date(2027, 2, 15, 0, 0, 0, 0, time.UTC),
			time.Date(2027, 3, 20, 0, 0, 0, 0, time.UTC),
		}, expiries)
		requireVerified(t, b)
	})
}
