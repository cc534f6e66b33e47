package policy_test

import (
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

func TestExpiryPolicies(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	month := policy.Period{Start: utc("2026-03-01T05:00:00Z"), End: utc("2026-04-01T04:00:00Z"), Key: "2026-03"}
	// The evening before New York springs forward: 30*24h later is 21:00
	// local, not 20:00, because the duration is exact.
	beforeDST := time.Date(2026, 3, 7, 20, 0, 0, 0, ny)
	at := func(s string) *time.Time { v := utc(s); return &v }
	tests := []struct {
		name    string
		expiry  policy.Expiry
		granted time.Time
		period  policy.Period
		want    *time.Time
	}{
		{"after 30 days", policy.AfterDays(30), utc("2026-01-31T10:00:00Z"), policy.Period{}, at("2026-03-02T10:00:00Z")},
		{"after 1 day", policy.AfterDays(1), utc("2026-12-31T23:30:00Z"), month, at("2027-01-01T23:30:00Z")},
		{"after days is exact across dst", policy.AfterDays(30), beforeDST, policy.Period{}, at("2026-04-07T01:00:00Z")},
		{"after days max", policy.AfterDays(policy.MaxAfterDays), utc("2000-01-01T00:00:00Z"), policy.Period{}, func() *time.Time {
			v := utc("2000-01-01T00:00:00Z").Add(time.Duration(policy.MaxAfterDays) * 24 * time.Hour)
			return &v
		}()},
		// Invalid ones are refused by Validate; used anyway, they are safe.
		{"after zero days is born expired", policy.AfterDays(0), utc("2026-01-31T10:00:00Z"), policy.Period{}, at("2026-01-31T10:00:00Z")},
		{"after negative days is born expired", policy.AfterDays(-3), utc("2026-01-31T10:00:00Z"), month, at("2026-01-31T10:00:00Z")},
		{"at period end", policy.AtPeriodEnd(), utc("2026-03-15T00:00:00Z"), month, at("2026-04-01T04:00:00Z")},
		{"at period end zero period never", policy.AtPeriodEnd(), utc("2026-03-15T00:00:00Z"), policy.Period{}, nil},
		{"never", policy.Never(), utc("2026-03-15T00:00:00Z"), month, nil},
		{"never zero period", policy.Never(), utc("2026-03-15T00:00:00Z"), policy.Period{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.expiry.ExpiresAt(tc.granted, tc.period)
			if tc.want == nil {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.Equal(t, *tc.want, *got)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestAtPeriodEndPeriodInZone(t *testing.T) {
	t.Parallel()
	shanghai := mustLoad(t, "Asia/Shanghai")
	p := policy.Period{Start: time.Date(2026, 12, 1, 0, 0, 0, 0, shanghai), End: time.Date(2027, 1, 1, 0, 0, 0, 0, shanghai), Key: "2026-12"}
	got := policy.AtPeriodEnd().ExpiresAt(utc("2026-12-05T00:00:00Z"), p)
	require.NotNil(t, got)
	require.Equal(t, utc("2026-12-31T16:00:00Z"), *got)
}

func TestAfterDaysValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		days    int
		wantErr string
	}{
		{1, ""},
		{30, ""},
		{policy.MaxAfterDays, ""},
		{0, "AfterDays(0): days must be positive; use Never() for grants that do not expire"},
		{-1, "AfterDays(-1): days must be positive; use Never() for grants that do not expire"},
		{policy.MaxAfterDays + 1, "must be at most"},
	}
	for _, tc := range tests {
		v, ok := policy.AfterDays(tc.days).(policy.Validator)
		require.True(t, ok)
		err := v.Validate()
		if tc.wantErr == "" {
			require.NoError(t, err, "days %d", tc.days)
			continue
		}
		require.ErrorContains(t, err, tc.wantErr, "days %d", tc.days)
	}
}
