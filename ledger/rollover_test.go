package ledger_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// rolloverCatalog: 100 a calendar month expiring at the period's end,
// rolling over at most 30 ("roll") or half the period's grant ("half");
// and per-invoice plans, one rolling over at most 50.
func rolloverCatalog() *policy.Catalog {
	return &policy.Catalog{
		Plans: []policy.Plan{
			{ID: "roll", Allocation: policy.MonthlyCalendar(d("100"), "monthly_refresh"), Expiry: policy.AtPeriodEnd(),
				Rollover: &policy.Rollover{Max: d("30")}},
			{ID: "half", Allocation: policy.MonthlyCalendar(d("100"), "monthly_refresh"), Expiry: policy.AtPeriodEnd(),
				Rollover: &policy.Rollover{Percent: 50}},
			{ID: "pro_monthly", Allocation: policy.PerInvoice(d("1000"), ""), Expiry: policy.AfterDays(30)},
			{ID: "inv_roll", Allocation: policy.PerInvoice(d("100"), ""), Expiry: policy.AtPeriodEnd(),
				Rollover: &policy.Rollover{Max: d("50")}},
		},
	}
}

// balanceSnap is a balance seen at an instant, for BalanceAt to agree with.
type balanceSnap struct {
	at  time.Time
	bal *ledger.Balance
}

func snap(t *testing.T, b *bundle, account string) balanceSnap {
	t.Helper()
	bal, err := b.l.Balance(t.Context(), account)
	require.NoError(t, err)
	return balanceSnap{at: b.clock.Now(), bal: bal}
}

// requireBalanceAtAgrees checks that BalanceAt at each snapshot's instant
// returns what Balance returned then.
func requireBalanceAtAgrees(t *testing.T, b *bundle, account string, snaps []balanceSnap) {
	t.Helper()
	for _, s := range snaps {
		got, err := b.l.BalanceAt(t.Context(), account, s.at)
		require.NoError(t, err)
		require.True(t, s.bal.Available.Equal(got.Available), "at %s: Balance said %s, BalanceAt says %s", s.at, s.bal.Available, got.Available)
		require.True(t, s.bal.Held.Equal(got.Held), "held at %s", s.at)
		require.True(t, s.bal.Owed.Equal(got.Owed), "owed at %s", s.at)
		require.Len(t, got.Pools, len(s.bal.Pools), "pools at %s", s.at)
		for pool, pb := range s.bal.Pools {
			require.True(t, pb.Available.Equal(got.Pools[pool].Available), "pool %q available at %s", pool, s.at)
			require.True(t, pb.Owed.Equal(got.Pools[pool].Owed), "pool %q owed at %s", pool, s.at)
		}
		require.Len(t, got.Lots, len(s.bal.Lots), "lots at %s", s.at)
		for i := range got.Lots {
			require.Equal(t, s.bal.Lots[i].ID, got.Lots[i].ID)
			require.True(t, s.bal.Lots[i].Remaining.Equal(got.Lots[i].Remaining))
		}
	}
}

func consume(t *testing.T, b *bundle, account, amount string) {
	t.Helper()
	_, err := b.l.Consume(t.Context(), ledger.ConsumeParams{Account: account, Amount: d(amount)})
	require.NoError(t, err)
}

// rolloverEntries returns the account's rollover grants, oldest first.
func rolloverEntries(t *testing.T, b *bundle, account string) []ledger.Entry {
	t.Helper()
	page, err := b.l.Entries(t.Context(), account, &ledger.ListOpts{Limit: ledger.MaxPageSize})
	require.NoError(t, err)
	var out []ledger.Entry
	for i := len(page.Entries) - 1; i >= 0; i-- {
		if e := page.Entries[i]; e.Kind == ledger.KindGrant && e.Metadata[ledger.MetaRolloverPeriod] != "" {
			out = append(out, e)
		}
	}
	return out
}

func TestRolloverThreePeriods(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		for _, tc := range []struct {
			plan string
			// what rolls into December, January and February
			rolled [3]string
		}{
			{"roll", [3]string{"30", "10", "30"}}, // cap 30
			{"half", [3]string{"50", "10", "50"}}, // cap 50% of 100
		} {
			t.Run(tc.plan, func(t *testing.T) {
				b := setup(t, newStore, &ledger.Config{Catalog: rolloverCatalog()})
				ctx := t.Context()
				acct := "u-" + tc.plan
				require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: acct, Plan: tc.plan}))
				consume(t, b, acct, "40") // November leaves 60
				snaps := []balanceSnap{snap(t, b, acct)}
				want := func(avail string) {
					t.Helper()
					requireBalance(t, b, acct, avail)
					snaps = append(snaps, snap(t, b, acct))
				}

				// December: what November left, capped, rolls over; a second
				// run grants nothing.
				b.clock.Set(time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC))
				res := distribute(t, b)
				require.Equal(t, 2, res.Granted, "the period and its rollover")
				require.True(t, d("100").Add(d(tc.rolled[0])).Equal(res.GrantedCredits))
				require.True(t, d("60").Equal(res.ExpiredCredits), "November's 60 expired")
				want(d("100").Add(d(tc.rolled[0])).String())
				res = distribute(t, b)
				require.Equal(t, 0, res.Granted)
				want(d("100").Add(d(tc.rolled[0])).String())

				// December spends all but 10 (of the grant and the rollover).
				b.clock.Add(time.Hour)
				consume(t, b, acct, d("90").Add(d(tc.rolled[0])).String())
				want("10")
				b.clock.Set(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
				// Two runs at once (replicas): one rollover.
				done := make(chan error, 2)
				for range 2 {
					go func() {
						_, err := b.l.Distribute(ctx, nil)
						done <- err
					}()
				}
				require.NoError(t, <-done)
				require.NoError(t, <-done)
				distribute(t, b)
				want(d("100").Add(d(tc.rolled[1])).String())

				// February: a sweep expired January's lots before the run; what
				// they left still rolls over.
				b.clock.Set(time.Date(2027, 2, 1, 0, 0, 1, 0, time.UTC))
				_, err := b.l.ExpireDue(ctx)
				require.NoError(t, err)
				want("0")
				b.clock.Add(time.Minute)
				distribute(t, b)
				distribute(t, b)
				want(d("100").Add(d(tc.rolled[2])).String())

				rolls := rolloverEntries(t, b, acct)
				require.Len(t, rolls, 3)
				for i, period := range []string{"2026-11", "2026-12", "2027-01"} {
					e := rolls[i]
					require.True(t, d(tc.rolled[i]).Equal(e.Amount), "rollover of %s", period)
					require.Equal(t, period, e.Metadata[ledger.MetaRolloverPeriod])
					require.Equal(t, "monthly_refresh", e.Source)
					require.Equal(t, "rollover of plan "+tc.plan+" period "+period, e.Description)
					require.NotEmpty(t, e.Ref, "names the period's grant it rolls over")
				}
				bal, err := b.l.Balance(ctx, acct)
				require.NoError(t, err)
				require.Len(t, bal.Lots, 2)
				for _, lot := range bal.Lots {
					require.Equal(t, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), *lot.ExpiresAt, "the new period's expiry")
				}
				requireVerified(t, b)
				requireBalanceAtAgrees(t, b, acct, snaps)
			})
		}
	})
}

func TestGrantInvoice(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: rolloverCatalog()})
		ctx := t.Context()
		start := t0.Add(-time.Hour)
		p := ledger.InvoiceParams{Account: "sub", Plan: "pro_monthly", InvoiceID: "in_1", PeriodStart: start}
		rec, err := b.l.GrantInvoice(ctx, p)
		require.NoError(t, err)
		require.False(t, rec.Replayed)
		require.True(t, d("1000").Equal(rec.Balance))
		require.Len(t, rec.Entries, 1)
		e := rec.Entries[0]
		require.Equal(t, ledger.KindGrant, e.Kind)
		require.Equal(t, policy.SourceSubscriptionRenewal, e.Source)
		require.Equal(t, map[string]string{ledger.MetaInvoice: "in_1", ledger.MetaInvoicePlan: "pro_monthly",
			ledger.MetaInvoicePeriod: start.Format(policy.InvoicePeriodKeyLayout)}, e.Metadata)

		// A redelivered webhook replays.
		again, err := b.l.GrantInvoice(ctx, p)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, rec.OperationID, again.OperationID)
		requireBalance(t, b, "sub", "1000")
		bal, err := b.l.Balance(ctx, "sub")
		require.NoError(t, err)
		require.Len(t, bal.Lots, 1)
		require.Equal(t, t0.Add(30*24*time.Hour), *bal.Lots[0].ExpiresAt, "AfterDays(30) from the write")

		// The same invoice for another period, or another plan: a conflict.
		other := p
		other.PeriodStart = start.Add(24 * time.Hour)
		_, err = b.l.GrantInvoice(ctx, other)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
		other = p
		other.Plan = "inv_roll"
		_, err = b.l.GrantInvoice(ctx, other)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)

		// Bad input: typed, nothing written.
		for _, tc := range []struct {
			p    ledger.InvoiceParams
			want error
		}{
			{ledger.InvoiceParams{Account: "sub", Plan: "gold", InvoiceID: "x", PeriodStart: start}, ledger.ErrUnknownPlan},
			{ledger.InvoiceParams{Account: "sub", Plan: "roll", InvoiceID: "x", PeriodStart: start}, ledger.ErrInvalidArgument},
			{ledger.InvoiceParams{Account: "sub", Plan: "pro_monthly", InvoiceID: "", PeriodStart: start}, ledger.ErrInvalidArgument},
			{ledger.InvoiceParams{Account: "sub", Plan: "pro_monthly", InvoiceID: strings.Repeat("i", ledger.MaxIDLength+1), PeriodStart: start}, ledger.ErrInvalidArgument},
			{ledger.InvoiceParams{Account: "sub", Plan: "pro_monthly", InvoiceID: "x"}, ledger.ErrInvalidArgument},
			{ledger.InvoiceParams{Account: "", Plan: "pro_monthly", InvoiceID: "x", PeriodStart: start}, ledger.ErrInvalidArgument},
			// An AtPeriodEnd invoice whose period is over would be born expired.
			{ledger.InvoiceParams{Account: "sub", Plan: "inv_roll", InvoiceID: "old", PeriodStart: start.AddDate(0, -2, 0)}, ledger.ErrInvalidArgument},
		} {
			_, err := b.l.GrantInvoice(ctx, tc.p)
			require.ErrorIs(t, err, tc.want, "%+v", tc.p)
		}
		requireBalance(t, b, "sub", "1000")
		// The longest id, of the characters the key escapes, is a key too.
		long := ledger.InvoiceParams{Account: "sub2", Plan: "pro_monthly", InvoiceID: strings.Repeat(":%", ledger.MaxIDLength/2), PeriodStart: start}
		_, err = b.l.GrantInvoice(ctx, long)
		require.NoError(t, err)
		again, err = b.l.GrantInvoice(ctx, long)
		require.NoError(t, err)
		require.True(t, again.Replayed)

		// SetPlan and Distribute grant nothing for a per-invoice plan.
		res, err := b.l.AssignPlan(ctx, ledger.PlanParams{Account: "sub", Plan: "pro_monthly"})
		require.NoError(t, err)
		require.True(t, res.Granted.IsZero())
		b.clock.Add(40 * 24 * time.Hour)
		distribute(t, b)
		requireBalance(t, b, "sub", "0")
		require.Equal(t, 1, grantCount(t, b, "sub", policy.SourceSubscriptionRenewal))
		requireVerified(t, b)
	})
}

func TestGrantInvoiceRollover(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: rolloverCatalog()})
		ctx := t.Context()
		invoice := func(id string, start time.Time) *ledger.Receipt {
			t.Helper()
			rec, err := b.l.GrantInvoice(ctx, ledger.InvoiceParams{Account: "r", Plan: "inv_roll", InvoiceID: id, PeriodStart: start})
			require.NoError(t, err)
			return rec
		}
		invoice("in_1", t0)
		consume(t, b, "r", "30") // leaves 70
		snaps := []balanceSnap{snap(t, b, "r")}

		// The second invoice, after the first period ended (its lot expired,
		// unswept): 50 of the 70 roll over.
		b.clock.Set(t0.AddDate(0, 1, 0).Add(time.Hour))
		rec := invoice("in_2", t0.AddDate(0, 1, 0))
		require.Len(t, rec.Entries, 2)
		require.True(t, d("100").Equal(rec.Entries[0].Amount))
		require.True(t, d("50").Equal(rec.Entries[1].Amount))
		require.True(t, d("150").Equal(rec.Balance))
		snaps = append(snaps, snap(t, b, "r"))
		again := invoice("in_2", t0.AddDate(0, 1, 0))
		require.True(t, again.Replayed)
		requireBalance(t, b, "r", "150")

		// The third, nothing spent: the cap holds it to 50 again. The
		// previous lots are still open when it comes (a day early) and end.
		b.clock.Set(t0.AddDate(0, 2, 0).Add(-24 * time.Hour))
		rec = invoice("in_3", t0.AddDate(0, 2, 0))
		require.Len(t, rec.Entries, 2)
		requireBalance(t, b, "r", "150")
		snaps = append(snaps, snap(t, b, "r"))
		requireVerified(t, b)
		b.clock.Add(time.Hour)
		requireBalanceAtAgrees(t, b, "r", snaps)
	})
}
