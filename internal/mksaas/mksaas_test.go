package mksaas_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/mksaas"
	"github.com/creditledger/creditledger/internal/mksaas/mksaastest"
	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// now is the instant of the import: 20:00 in Shanghai, where MkSaaS's
// server clock runs.
var now = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

var planMap = map[string]string{
	"price_pro_yearly":  "pro_yearly",
	"price_pro_monthly": "pro_monthly",
	"price_lifetime":    "lifetime",
}

// fixture fills a MkSaaS database whose server ran in Asia/Shanghai:
//
//   - free-a: this month's MONTHLY_REFRESH (Nov 1 10:00, 20 of 50 left) and a signup
//     gift that expired on Nov 4 but was never swept (10 left), which
//     user_credit still counts (30): a mismatch.
//   - free-b: a pack (100 left); no refresh this month; user_credit says
//     150 (a lost update): a mismatch.
//   - yearly-c: an active yearly subscription from Mar 15 08:00, renewed
//     by the cron on Nov 1 (900 of 1000 left).
//   - life-d: a lifetime purchase on Jun 20 10:00, its Oct 20 grant
//     spent, and a credit pack bought after it (which MkSaaS's own plan
//     logic would take as the latest payment and drop the user).
//   - canceled-e: a canceled yearly subscription: back on the free plan.
//   - monthly-f: an active monthly subscription, its Nov 5 invoice grant.
func fixture(t *testing.T) *mksaastest.DB {
	db := mksaastest.New(t)
	w := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) } // wall clock
	tp := func(t time.Time) *time.Time { return &t }

	db.Balance("free-a", 30)
	db.Tx("t-a1", "free-a", "REGISTER_GIFT", 50, 10, tp(w(2026, 11, 4, 9)), w(2026, 10, 5, 9))
	db.Tx("t-a2", "free-a", "MONTHLY_REFRESH", 50, 20, tp(w(2026, 12, 1, 0)), w(2026, 11, 1, 10))
	db.Tx("t-a3", "free-a", "USAGE", -70, -1, nil, w(2026, 11, 2, 0))

	db.Balance("free-b", 150)
	db.Tx("t-b1", "free-b", "MONTHLY_REFRESH", 50, 0, tp(w(2026, 10, 31, 0)), w(2026, 10, 1, 0))
	db.Tx("t-b2", "free-b", "EXPIRE", -50, -1, nil, w(2026, 10, 31, 1))
	db.Tx("t-b3", "free-b", "PURCHASE_PACKAGE", 100, 100, tp(w(2026, 12, 3, 10)), w(2026, 11, 3, 10))

	db.Balance("yearly-c", 900)
	db.Payment("p-c1", "yearly-c", "price_pro_yearly", "subscription", "year", "active", w(2026, 3, 15, 8), w(2026, 3, 15, 8))
	db.Tx("t-c1", "yearly-c", "SUBSCRIPTION_RENEWAL", 1000, 900, tp(w(2026, 12, 1, 0)), w(2026, 11, 1, 0))

	db.Balance("life-d", 0)
	db.Payment("p-d1", "life-d", "price_lifetime", "one_time", "", "completed", time.Time{}, w(2026, 6, 20, 10))
	db.Payment("p-d2", "life-d", "price_pack_basic", "one_time", "", "completed", time.Time{}, w(2026, 9, 1, 10))
	db.Tx("t-d1", "life-d", "LIFETIME_MONTHLY", 1000, 0, tp(w(2026, 11, 19, 10)), w(2026, 10, 20, 10))

	db.Balance("canceled-e", 0)
	db.Payment("p-e1", "canceled-e", "price_pro_yearly", "subscription", "year", "canceled", w(2025, 1, 1, 0), w(2025, 1, 1, 0))

	db.Balance("monthly-f", 1000)
	db.Payment("p-f1", "monthly-f", "price_pro_monthly", "subscription", "month", "active", w(2026, 11, 5, 0), w(2026, 11, 5, 0))
	db.Tx("t-f1", "monthly-f", "SUBSCRIPTION_RENEWAL", 1000, 1000, tp(w(2026, 12, 5, 0)), w(2026, 11, 5, 0))
	return db
}

func TestImport(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	src := fixture(t)
	clk := &clock{t: now}
	l, err := ledger.New(testdb.Open(t, testdb.PostgresDSN(t)), &ledger.Config{Catalog: policy.ReferenceCatalog(), Now: clk.Now})
	require.NoError(t, err)
	opts := mksaas.Options{PlanMap: planMap, Location: shanghai, Now: now}

	wantReport := func(t *testing.T, rep *mksaas.Report) {
		t.Helper()
		require.Equal(t, 6, rep.Users)
		require.Equal(t, map[string]int{"free": 3, "pro_yearly": 1, "lifetime": 1, "pro_monthly": 1}, rep.Plans)
		require.Equal(t, 3, rep.PeriodsGranted, "free-a, yearly-c and life-d")
		require.Equal(t, 4, rep.Lots)
		require.True(t, decimal.NewFromInt(2020).Equal(rep.Credits), "credits %s", rep.Credits)
		require.Equal(t, 1, rep.ExpiredLots)
		require.True(t, decimal.NewFromInt(10).Equal(rep.ExpiredCredits))
		require.Equal(t, []mksaas.Mismatch{
			{User: "free-a", CurrentCredits: 30, OpenLots: 20},
			{User: "free-b", CurrentCredits: 150, OpenLots: 100},
		}, rep.Mismatches)
		require.Empty(t, rep.Failed)
	}

	// A dry run reports and writes nothing.
	dry := opts
	dry.DryRun = true
	rep, err := mksaas.Import(ctx, l, src.SQL, dry)
	require.NoError(t, err)
	wantReport(t, rep)
	require.True(t, rep.DryRun)
	require.Zero(t, rep.Written)
	for _, u := range []string{"free-a", "yearly-c", "life-d"} {
		_, err := l.Balance(ctx, u)
		require.ErrorIs(t, err, ledger.ErrNotFound, "dry run wrote %s", u)
	}

	rep, err = mksaas.Import(ctx, l, src.SQL, opts)
	require.NoError(t, err)
	wantReport(t, rep)
	require.Equal(t, 4, rep.Written)
	require.Zero(t, rep.Existing)

	balances := map[string]string{"free-a": "20", "free-b": "100", "yearly-c": "900", "life-d": "0", "canceled-e": "0", "monthly-f": "1000"}
	plans := map[string]string{"free-a": "free", "free-b": "free", "yearly-c": "pro_yearly", "life-d": "lifetime", "canceled-e": "free", "monthly-f": "pro_monthly"}
	check := func(t *testing.T) {
		t.Helper()
		for u, want := range balances {
			b, err := l.Balance(ctx, u)
			require.NoError(t, err, u)
			require.True(t, decimal.RequireFromString(want).Equal(b.Available), "%s: want %s, got %s", u, want, b.Available)
			require.Equal(t, plans[u], b.Plan, u)
		}
	}
	check(t)
	// The lot keeps its source and its expiry, read in Shanghai time.
	b, err := l.Balance(ctx, "yearly-c")
	require.NoError(t, err)
	require.Len(t, b.Lots, 1)
	require.Equal(t, "subscription_renewal", b.Lots[0].Source)
	require.Equal(t, time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC), b.Lots[0].ExpiresAt.UTC())
	page, err := l.Entries(ctx, "yearly-c", nil)
	require.NoError(t, err)
	require.Len(t, page.Entries, 2) // the lot's grant, after the plan's entry
	require.Equal(t, "t-c1", page.Entries[0].Metadata["mksaas_id"])
	require.Equal(t, ledger.KindPlan, page.Entries[1].Kind)
	require.Equal(t, "pro_yearly", page.Entries[1].Source)

	// A second run changes nothing.
	rep, err = mksaas.Import(ctx, l, src.SQL, opts)
	require.NoError(t, err)
	wantReport(t, rep)
	require.Zero(t, rep.Written)
	require.Equal(t, 4, rep.Existing)
	check(t)

	// The first Distribute grants only the periods MkSaaS had not: the
	// free users without this month's refresh.
	res, err := l.Distribute(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, 2, res.Granted)
	require.Zero(t, res.Errors)
	balances["free-b"], balances["canceled-e"] = "150", "50"
	check(t)

	// Each imported plan resumes at its own next period: the yearly one
	// on the 15th (Mar 15 08:00 Shanghai is 00:00 UTC), the lifetime one
	// on Nov 20 02:00 UTC, the free ones on Dec 1.
	for _, step := range []struct {
		at      time.Time
		granted int
		user    string
		want    string
	}{
		{time.Date(2026, 11, 14, 23, 59, 0, 0, time.UTC), 0, "yearly-c", "900"},
		{time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC), 1, "yearly-c", "1900"},
		{time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC), 1, "life-d", "1000"},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 3, "free-a", "50"},
	} {
		clk.Set(step.at)
		res, err := l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, step.granted, res.Granted, "at %s", step.at)
		b, err := l.Balance(ctx, step.user)
		require.NoError(t, err)
		require.True(t, decimal.RequireFromString(step.want).Equal(b.Available), "%s at %s: %s", step.user, step.at, b.Available)
	}
	rv, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, rv.Violations)
}

// TestImportZone reads the same rows as UTC wall clocks (the default):
// every expiry moves by eight hours.
func TestImportZone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := fixture(t)
	l, err := ledger.New(testdb.Open(t, testdb.SQLitePath(t)), &ledger.Config{Catalog: policy.ReferenceCatalog(), Now: func() time.Time { return now }})
	require.NoError(t, err)
	rep, err := mksaas.Import(ctx, l, src.SQL, mksaas.Options{PlanMap: planMap, Now: now})
	require.NoError(t, err)
	require.Equal(t, 4, rep.Written)
	b, err := l.Balance(ctx, "yearly-c")
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), b.Lots[0].ExpiresAt.UTC())
}

func TestImportRefusesUnknownPlan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := fixture(t)
	l, err := ledger.New(testdb.Open(t, testdb.SQLitePath(t)), &ledger.Config{Catalog: policy.ReferenceCatalog()})
	require.NoError(t, err)
	_, err = mksaas.Import(ctx, l, src.SQL, mksaas.Options{PlanMap: map[string]string{"price_pro_yearly": "platinum"}})
	require.ErrorIs(t, err, ledger.ErrUnknownPlan)
	require.ErrorContains(t, err, `"platinum"`)
	_, err = l.Balance(ctx, "free-a")
	require.ErrorIs(t, err, ledger.ErrNotFound, "nothing written")
}

func TestParsePlanMap(t *testing.T) {
	t.Parallel()
	m, err := mksaas.ParsePlanMap(" price_a=pro_yearly, price_b=lifetime,,")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"price_a": "pro_yearly", "price_b": "lifetime"}, m)
	m, err = mksaas.ParsePlanMap("")
	require.NoError(t, err)
	require.Empty(t, m)
	for _, bad := range []string{"price_a", "=plan", "price_a=", "a=x,a=y"} {
		_, err := mksaas.ParsePlanMap(bad)
		require.ErrorIs(t, err, ledger.ErrInvalidArgument, bad)
	}
}

// TestImportSkipsInvalidUser: a user id the ledger cannot take (over 255
// bytes) once aborted the whole import, writing nothing (#19, defect 7);
// that user is reported as skipped with the reason, and the rest is
// imported, on every store.
func TestImportSkipsInvalidUser(t *testing.T) {
	t.Parallel()
	for _, kind := range testdb.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src := fixture(t)
			long := strings.Repeat("x", ledger.MaxIDLength+1)
			src.Balance(long, 70)
			expires := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
			src.Tx("t-long", long, "PURCHASE_PACKAGE", 70, 70, &expires, time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC))
			l, err := ledger.New(kind.New(t), &ledger.Config{Catalog: policy.ReferenceCatalog(), Now: func() time.Time { return now }})
			require.NoError(t, err)
			opts := mksaas.Options{PlanMap: planMap, Now: now}
			for run := range 2 {
				rep, err := mksaas.Import(ctx, l, src.SQL, opts)
				require.NoError(t, err)
				require.Equal(t, 7, rep.Users)
				require.Len(t, rep.Skipped, 1)
				sk := rep.Skipped[0]
				require.Equal(t, long, sk.User)
				require.Equal(t, 1, sk.Lots)
				require.True(t, decimal.NewFromInt(70).Equal(sk.Credits), "skipped credits %s", sk.Credits)
				require.ErrorIs(t, sk.Err, ledger.ErrInvalidArgument)
				require.ErrorContains(t, sk.Err, "more than 255")
				require.Equal(t, 4, rep.Lots, "the skipped user's lot is not counted as imported")
				require.True(t, decimal.NewFromInt(2020).Equal(rep.Credits), "credits %s", rep.Credits)
				require.Equal(t, 6, rep.Plans["free"]+rep.Plans["pro_yearly"]+rep.Plans["lifetime"]+rep.Plans["pro_monthly"])
				require.Empty(t, rep.Failed)
				if run == 0 {
					require.Equal(t, 4, rep.Written)
				} else {
					require.Zero(t, rep.Written, "a rerun writes nothing")
					require.Equal(t, 4, rep.Existing)
				}
			}
			// The others are in.
			b, err := l.Balance(ctx, "yearly-c")
			require.NoError(t, err)
			require.True(t, decimal.NewFromInt(900).Equal(b.Available), "yearly-c has %s", b.Available)
			require.Equal(t, "pro_yearly", b.Plan)
			b, err = l.Balance(ctx, "free-b")
			require.NoError(t, err)
			require.True(t, decimal.NewFromInt(100).Equal(b.Available), "free-b has %s", b.Available)
			rep, err := l.Verify(ctx)
			require.NoError(t, err)
			require.Empty(t, rep.Violations)
			require.Equal(t, 6, rep.Accounts)
		})
	}
}

// An imported lot is described as "mksaas: " and MkSaaS's description,
// or as "mksaas" alone when MkSaaS had none (not "mksaas: " and nothing).
func TestImportDescription(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := fixture(t)
	_, err := src.SQL.ExecContext(ctx, `UPDATE credit_transaction SET description = NULL WHERE id = 't-c1'`)
	require.NoError(t, err)
	_, err = src.SQL.ExecContext(ctx, `UPDATE credit_transaction SET description = '' WHERE id = 't-f1'`)
	require.NoError(t, err)
	l, err := ledger.New(testdb.Open(t, testdb.SQLitePath(t)), &ledger.Config{Catalog: policy.ReferenceCatalog(), Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = mksaas.Import(ctx, l, src.SQL, mksaas.Options{PlanMap: planMap, Now: now})
	require.NoError(t, err)
	for user, want := range map[string]string{"yearly-c": "mksaas", "monthly-f": "mksaas", "free-b": "mksaas: PURCHASE_PACKAGE for free-b"} {
		page, err := l.Entries(ctx, user, nil)
		require.NoError(t, err)
		var grants []ledger.Entry
		for _, e := range page.Entries {
			if e.Kind == ledger.KindGrant {
				grants = append(grants, e)
			}
		}
		require.Len(t, grants, 1, user)
		require.Equal(t, want, grants[0].Description, user)
	}
}
