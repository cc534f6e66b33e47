package policy_test

import (
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

func TestAddMonthsClamped(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	tests := []struct {
		name   string
		from   time.Time
		months int
		want   time.Time
	}{
		{"zero months", utc("2027-01-31T10:00:00Z"), 0, utc("2027-01-31T10:00:00Z")},
		{"jan 31 to feb common", utc("2027-01-31T10:00:00Z"), 1, utc("2027-02-28T10:00:00Z")},
		{"jan 31 to feb leap", utc("2028-01-31T10:00:00Z"), 1, utc("2028-02-29T10:00:00Z")},
		{"jan 31 to mar", utc("2027-01-31T10:00:00Z"), 2, utc("2027-03-31T10:00:00Z")},
		{"jan 31 to apr", utc("2027-01-31T10:00:00Z"), 3, utc("2027-04-30T10:00:00Z")},
		{"across years", utc("2027-11-30T00:00:00Z"), 3, utc("2028-02-29T00:00:00Z")},
		{"backwards", utc("2027-03-31T00:00:00Z"), -1, utc("2027-02-28T00:00:00Z")},
		{"backwards across year", utc("2027-01-15T00:00:00Z"), -13, utc("2025-12-15T00:00:00Z")},
		{"feb 29 plus a year", utc("2028-02-29T00:00:00Z"), 12, utc("2029-02-28T00:00:00Z")},
		{"nanoseconds kept", utc("2027-01-31T10:00:00.123456789Z"), 1, utc("2027-02-28T10:00:00.123456789Z")},
		{"keeps local time across dst", time.Date(2026, 2, 10, 9, 0, 0, 0, ny), 1, time.Date(2026, 3, 10, 9, 0, 0, 0, ny)},
		{"dst gap resolves to transition", time.Date(2026, 2, 8, 2, 30, 0, 0, ny), 1, utc("2026-03-08T07:00:00Z")},
		{"dst fold resolves to earlier", time.Date(2026, 10, 1, 1, 30, 0, 0, ny), 1, utc("2026-11-01T05:30:00Z")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := policy.AddMonthsClamped(tc.from, tc.months)
			require.True(t, tc.want.Equal(got), "want %s, got %s", tc.want, got)
			require.Equal(t, tc.from.Location(), got.Location())
		})
	}
}
