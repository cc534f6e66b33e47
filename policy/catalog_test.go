package policy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

func TestCatalogValidatePolicies(t *testing.T) {
	t.Parallel()
	one := decimal.NewFromInt(1)
	tests := []struct {
		name    string
		mutate  func(c *policy.Catalog)
		wantErr string // empty: valid
	}{
		{"reference", func(*policy.Catalog) {}, ""},
		{"never and at period end", func(c *policy.Catalog) {
			c.Plans[0].Expiry = policy.Never()
			c.Plans[1].Expiry = policy.AtPeriodEnd()
			c.SignupGift.Expiry = nil
		}, ""},
		{"plan expiry zero days", func(c *policy.Catalog) { c.Plans[0].Expiry = policy.AfterDays(0) }, `plan "free": AfterDays(0): days must be positive; use Never()`},
		{"plan expiry negative days", func(c *policy.Catalog) { c.Plans[2].Expiry = policy.AfterDays(-30) }, `plan "pro_yearly": AfterDays(-30)`},
		{"plan expiry too many days", func(c *policy.Catalog) { c.Plans[2].Expiry = policy.AfterDays(policy.MaxAfterDays + 1) }, `plan "pro_yearly": AfterDays(`},
		{"gift expiry zero days", func(c *policy.Catalog) { c.SignupGift.Expiry = policy.AfterDays(0) }, "signup gift: AfterDays(0)"},
		{"pack expiry negative days", func(c *policy.Catalog) { c.Packs[1].Expiry = policy.AfterDays(-1) }, `pack "standard": AfterDays(-1)`},
		{"calendar amount zero", func(c *policy.Catalog) {
			c.Plans[0].Allocation = policy.MonthlyCalendar(decimal.Zero, "")
		}, `plan "free": MonthlyCalendar amount 0 must be positive`},
		{"anniversary amount negative", func(c *policy.Catalog) {
			c.Plans[3].Allocation = policy.MonthlyAnniversary(one.Neg(), "")
		}, `plan "lifetime": MonthlyAnniversary amount -1 must be positive`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := policy.ReferenceCatalog()
			tc.mutate(c)
			err := c.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, policy.ErrInvalidCatalog), "%v", err)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestReferenceCatalog(t *testing.T) {
	t.Parallel()
	c := policy.ReferenceCatalog()
	require.NoError(t, c.Validate())
	require.Equal(t, time.UTC, c.Loc())
	require.Equal(t, "free", c.DefaultPlan)
	require.True(t, decimal.NewFromInt(50).Equal(c.SignupGift.Amount))
	require.Equal(t, "register_gift", c.SignupGift.Source)

	granted := utc("2026-05-10T08:00:00Z")
	thirtyDays := granted.Add(30 * 24 * time.Hour)
	require.Equal(t, thirtyDays, *c.SignupGift.Expiry.ExpiresAt(granted, policy.Period{}))

	acct := policy.Account{ID: "u", Anchor: utc("2026-01-31T12:00:00Z")}
	plans := []struct {
		id     string
		ok     bool
		amount int64
		source string
		key    string
	}{
		{"free", true, 50, "monthly_refresh", "2026-05"},
		{"pro_monthly", false, 0, "", ""},
		{"pro_yearly", true, 1000, "subscription_renewal", "2026-04-30"},
		{"lifetime", true, 1000, "lifetime_monthly", "2026-04-30"},
	}
	require.Len(t, c.Plans, len(plans))
	for _, want := range plans {
		p, ok := c.Plan(want.id)
		require.True(t, ok, want.id)
		require.Equal(t, thirtyDays, *p.Expiry.ExpiresAt(granted, policy.Period{}), want.id)
		due, ok := p.Allocation.Allocate(acct, granted, c.Loc())
		require.Equal(t, want.ok, ok, want.id)
		if !ok {
			continue
		}
		require.True(t, decimal.NewFromInt(want.amount).Equal(due.Amount), want.id)
		require.Equal(t, want.source, due.Source, want.id)
		require.Equal(t, want.key, due.Period.Key, want.id)
	}

	packs := map[string]int64{"basic": 100, "standard": 200, "premium": 500, "enterprise": 1000}
	require.Len(t, c.Packs, len(packs))
	for id, amount := range packs {
		p, ok := c.Pack(id)
		require.True(t, ok, id)
		require.True(t, decimal.NewFromInt(amount).Equal(p.Amount), id)
		require.Equal(t, "purchase_package", p.Source)
		require.Equal(t, thirtyDays, *p.Expiry.ExpiresAt(granted, policy.Period{}), id)
	}

	// Each call is a fresh catalog: changing one leaves the next intact.
	c.Plans[0].ID = "changed"
	c.Packs[0].Amount = decimal.Zero
	c.SignupGift.Amount = decimal.Zero
	fresh := policy.ReferenceCatalog()
	require.Equal(t, "free", fresh.Plans[0].ID)
	require.True(t, decimal.NewFromInt(100).Equal(fresh.Packs[0].Amount))
	require.True(t, decimal.NewFromInt(50).Equal(fresh.SignupGift.Amount))
	require.NoError(t, fresh.Validate())
}
