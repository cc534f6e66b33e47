package policy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestPlanV03Validate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		plan    policy.Plan
		wantErr string
	}{
		{"overdraft and rollover", policy.Plan{ID: "p", Overdraft: map[string]decimal.Decimal{"": dec("10"), "image": dec("0")},
			Rollover: &policy.Rollover{Percent: 100}}, ""},
		{"rollover max", policy.Plan{ID: "p", Rollover: &policy.Rollover{Max: dec("5")}}, ""},
		{"overdraft below zero", policy.Plan{ID: "p", Overdraft: map[string]decimal.Decimal{"chat": dec("-1")}},
			`plan "p": overdraft -1 of pool "chat" is below zero`},
		{"rollover over 100%", policy.Plan{ID: "p", Rollover: &policy.Rollover{Percent: 101}},
			`plan "p": rollover percent 101 is outside 0..100`},
		{"rollover percent negative", policy.Plan{ID: "p", Rollover: &policy.Rollover{Percent: -1}},
			`plan "p": rollover percent -1 is outside 0..100`},
		{"rollover max negative", policy.Plan{ID: "p", Rollover: &policy.Rollover{Max: dec("-0.5")}},
			`plan "p": rollover max -0.5 is negative`},
		{"per invoice zero", policy.Plan{ID: "p", Allocation: policy.PerInvoice(decimal.Zero, "")},
			`plan "p": PerInvoice amount 0 must be positive`},
		{"pools twice", policy.Plan{ID: "p", Allocation: policy.InPools(policy.MonthlyCalendar(decimal.Zero, ""),
			policy.PoolAmount{Pool: "a", Amount: dec("1")}, policy.PoolAmount{Pool: "a", Amount: dec("2")})},
			`plan "p": InPools names pool "a" twice`},
		{"pool amount zero", policy.Plan{ID: "p", Allocation: policy.InPools(policy.MonthlyCalendar(decimal.Zero, ""),
			policy.PoolAmount{Pool: "a", Amount: dec("0")})}, `InPools amount 0 of pool "a" must be positive`},
		{"no pools", policy.Plan{ID: "p", Allocation: policy.InPools(policy.MonthlyCalendar(dec("1"), ""))}, "InPools names no pool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := (&policy.Catalog{Plans: []policy.Plan{tc.plan}}).Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, policy.ErrInvalidCatalog)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestRolloverCap(t *testing.T) {
	t.Parallel()
	require.True(t, dec("5").Equal((&policy.Rollover{Max: dec("5"), Percent: 50}).Cap(dec("100"), 0)))
	require.True(t, dec("33").Equal((&policy.Rollover{Percent: 33}).Cap(dec("101"), 0)), "rounded down")
	require.True(t, dec("33.33").Equal((&policy.Rollover{Percent: 33}).Cap(dec("101"), 2)))
	require.True(t, decimal.Zero.Equal((*policy.Rollover)(nil).Cap(dec("100"), 0)))
}

func TestPerInvoiceAndPools(t *testing.T) {
	t.Parallel()
	a := policy.PerInvoice(dec("1000"), "")
	_, ok := a.Allocate(policy.Account{ID: "u", Anchor: utc("2026-01-31T00:00:00Z")}, utc("2026-05-01T00:00:00Z"), nil)
	require.False(t, ok, "never due by the calendar")
	require.True(t, policy.IsPerInvoice(a))
	require.False(t, policy.IsPerInvoice(policy.MonthlyCalendar(dec("1"), "")))
	d, ok := a.(policy.InvoiceAllocation).AllocateInvoice(policy.Account{ID: "u"}, utc("2026-01-31T10:00:00Z"), time.UTC)
	require.True(t, ok)
	require.Equal(t, policy.Period{Start: utc("2026-01-31T10:00:00Z"), End: utc("2026-02-28T10:00:00Z"), Key: "2026-01-31T10:00:00.000000Z"}, d.Period)
	require.Equal(t, policy.SourceSubscriptionRenewal, d.Source)
	require.True(t, dec("1000").Equal(d.Amount))
	require.Empty(t, d.Grants)

	p := policy.InPools(policy.MonthlyCalendar(decimal.Zero, "m"), policy.PoolAmount{Pool: "chat", Amount: dec("10")}, policy.PoolAmount{Pool: "image", Amount: dec("2")})
	require.NoError(t, (&policy.Catalog{Plans: []policy.Plan{{ID: "x", Allocation: p}}}).Validate())
	d, ok = p.Allocate(policy.Account{ID: "u"}, utc("2026-05-10T00:00:00Z"), nil)
	require.True(t, ok)
	require.Equal(t, "2026-05", d.Period.Key)
	require.True(t, dec("12").Equal(d.Amount))
	require.Equal(t, []policy.PoolAmount{{Pool: "chat", Amount: dec("10")}, {Pool: "image", Amount: dec("2")}}, d.Grants)
	require.False(t, policy.IsPerInvoice(p))
	pi := policy.InPools(policy.PerInvoice(decimal.Zero, ""), policy.PoolAmount{Pool: "chat", Amount: dec("10")})
	require.True(t, policy.IsPerInvoice(pi))
	d, ok = pi.(policy.InvoiceAllocation).AllocateInvoice(policy.Account{}, utc("2026-03-01T00:00:00Z"), nil)
	require.True(t, ok)
	require.Len(t, d.Grants, 1)
}

func TestPlanV03JSONRoundTrip(t *testing.T) {
	t.Parallel()
	c := &policy.Catalog{Plans: []policy.Plan{
		{ID: "team", Allocation: policy.InPools(policy.MonthlyCalendar(decimal.Zero, "monthly_refresh"),
			policy.PoolAmount{Pool: "", Amount: dec("1000")}, policy.PoolAmount{Pool: "image", Amount: dec("50")}),
			Expiry: policy.AtPeriodEnd(), Overdraft: map[string]decimal.Decimal{"": dec("100")}, Rollover: &policy.Rollover{Percent: 50}},
		{ID: "inv", Allocation: policy.PerInvoice(dec("1000"), "x"), Rollover: &policy.Rollover{Max: dec("200")}},
		{ID: "inv2", Allocation: policy.InPools(policy.PerInvoice(decimal.Zero, ""), policy.PoolAmount{Pool: "chat", Amount: dec("5")})},
	}}
	data, err := json.Marshal(c)
	require.NoError(t, err)
	got, err := policy.ParseCatalog(data)
	require.NoError(t, err)
	require.Equal(t, c, got)

	_, err = policy.ParseCatalog([]byte(`{"plans": [{"id": "p", "rollover": {"percent": 120}}]}`))
	require.ErrorIs(t, err, policy.ErrInvalidCatalog)
	require.ErrorContains(t, err, `plan "p": rollover percent 120 is outside 0..100`)
	_, err = policy.ParseCatalog([]byte(`{"plans": [{"id": "p", "overdraft": {"chat": "-5"}}]}`))
	require.ErrorContains(t, err, `plan "p": overdraft -5 of pool "chat" is below zero`)
	_, err = policy.ParseCatalog([]byte(`{"plans": [{"id": "p", "allocation": {"type": "none", "pools": [{"pool": "a", "amount": "1"}]}}]}`))
	require.ErrorContains(t, err, `cannot have pools`)
	_, err = policy.ParseCatalog([]byte(`{"plans": [{"id": "p", "allocation": {"type": "per_invoice", "amount": "1", "pools": [{"pool": "a", "amount": "1"}]}}]}`))
	require.ErrorContains(t, err, `both amount and pools`)
}
