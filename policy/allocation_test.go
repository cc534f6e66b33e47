package policy_test

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones below must load even where the system has none

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestMonthlyCalendarPeriods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		zone       string
		at         string
		key        string
		start, end string
	}{
		{"utc mid month", "UTC", "2026-11-15T12:00:00Z", "2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
		{"utc last instant of month", "UTC", "2026-11-30T23:59:59.999999999Z", "2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
		{"utc boundary is new month", "UTC", "2026-12-01T00:00:00Z", "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"utc year end", "UTC", "2026-12-31T23:59:59Z", "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"utc new year", "UTC", "2027-01-01T00:00:00Z", "2027-01", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"},
		{"utc february leap", "UTC", "2028-02-29T12:00:00Z", "2028-02", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"},
		// 16:30Z on Nov 30 is 00:30 on Dec 1 in Shanghai (UTC+8).
		{"shanghai already december", "Asia/Shanghai", "2026-11-30T16:30:00Z", "2026-12", "2026-11-30T16:00:00Z", "2026-12-31T16:00:00Z"},
		{"shanghai still november", "Asia/Shanghai", "2026-11-30T15:59:59Z", "2026-11", "2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z"},
		{"shanghai boundary", "Asia/Shanghai", "2026-11-30T16:00:00Z", "2026-12", "2026-11-30T16:00:00Z", "2026-12-31T16:00:00Z"},
		{"shanghai year end", "Asia/Shanghai", "2026-12-31T15:59:59Z", "2026-12", "2026-11-30T16:00:00Z", "2026-12-31T16:00:00Z"},
		{"shanghai new year", "Asia/Shanghai", "2026-12-31T16:00:00Z", "2027-01", "2026-12-31T16:00:00Z", "2027-01-31T16:00:00Z"},
		// In UTC it is already December; in New York still November.
		{"new york still november", "America/New_York", "2026-12-01T04:59:59Z", "2026-11", "2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z"},
		{"new york boundary", "America/New_York", "2026-12-01T05:00:00Z", "2026-12", "2026-12-01T05:00:00Z", "2027-01-01T05:00:00Z"},
		{"new york year end", "America/New_York", "2027-01-01T04:59:59Z", "2026-12", "2026-12-01T05:00:00Z", "2027-01-01T05:00:00Z"},
		// DST: every month still starts at local midnight.
		{"new york march springs forward", "America/New_York", "2026-03-15T12:00:00Z", "2026-03", "2026-03-01T05:00:00Z", "2026-04-01T04:00:00Z"},
		{"new york october no change", "America/New_York", "2026-10-15T12:00:00Z", "2026-10", "2026-10-01T04:00:00Z", "2026-11-01T04:00:00Z"},
		{"new york november falls back", "America/New_York", "2026-11-01T06:30:00Z", "2026-11", "2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z"},
		// Havana skipped local midnight on 2012-04-01 (00:00 CST became
		// 01:00 CDT): April starts at the transition, 05:00Z, and 23:30 CST
		// on Mar 31 is still March.
		{"havana gap at midnight march", "America/Havana", "2012-04-01T04:30:00Z", "2012-03", "2012-03-01T05:00:00Z", "2012-04-01T05:00:00Z"},
		{"havana gap at midnight april", "America/Havana", "2012-04-01T05:00:00Z", "2012-04", "2012-04-01T05:00:00Z", "2012-05-01T04:00:00Z"},
		// Beirut skipped midnight on 1990-05-01 (00:00 EET became 01:00 EEST).
		{"beirut gap at midnight", "Asia/Beirut", "1990-04-30T22:00:00Z", "1990-05", "1990-04-30T22:00:00Z", "1990-05-31T21:00:00Z"},
		{"beirut before gap", "Asia/Beirut", "1990-04-30T21:59:59Z", "1990-04", "1990-03-31T22:00:00Z", "1990-04-30T22:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loc := mustLoad(t, tc.zone)
			alloc := policy.MonthlyCalendar(decimal.NewFromInt(50), "")
			due, ok := alloc.Allocate(policy.Account{ID: "u"}, utc(tc.at), loc)
			require.True(t, ok)
			require.Equal(t, tc.key, due.Period.Key)
			require.Equal(t, utc(tc.start), due.Period.Start)
			require.Equal(t, utc(tc.end), due.Period.End)
			require.Equal(t, time.UTC, due.Period.Start.Location())
			require.Equal(t, time.UTC, due.Period.End.Location())
			require.False(t, utc(tc.at).Before(due.Period.Start), "t before start")
			require.True(t, utc(tc.at).Before(due.Period.End), "t not before end")
			require.True(t, decimal.NewFromInt(50).Equal(due.Amount))
			require.Equal(t, "monthly_refresh", due.Source)
		})
	}
}

func TestMonthlyCalendarDSTLengths(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	const day = 24 * time.Hour
	tests := []struct {
		name  string
		local time.Time
		want  time.Duration
	}{
		{"march loses an hour", time.Date(2026, 3, 20, 12, 0, 0, 0, ny), 31*day - time.Hour},
		{"november gains an hour", time.Date(2026, 11, 20, 12, 0, 0, 0, ny), 30*day + time.Hour},
		{"january unchanged", time.Date(2026, 1, 20, 12, 0, 0, 0, ny), 31 * day},
		{"july unchanged", time.Date(2026, 7, 20, 12, 0, 0, 0, ny), 31 * day},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			due, ok := policy.MonthlyCalendar(decimal.NewFromInt(1), "src").Allocate(policy.Account{}, tc.local, ny)
			require.True(t, ok)
			require.Equal(t, tc.want, due.Period.End.Sub(due.Period.Start))
			for _, b := range []time.Time{due.Period.Start, due.Period.End} {
				l := b.In(ny)
				require.Equal(t, 1, l.Day())
				require.Equal(t, 0, l.Hour(), "month must start at local midnight, got %s", l)
			}
			require.Equal(t, "src", due.Source)
		})
	}
}

func TestMonthlyCalendarContiguous(t *testing.T) {
	t.Parallel()
	// Walking month by month from each period's end must give back-to-back
	// periods with distinct keys, through DST changes and year ends, in
	// zones whose midnights DST sometimes skips.
	for _, zone := range []string{"UTC", "Asia/Shanghai", "America/New_York", "America/Havana", "America/Asuncion", "Asia/Beirut", "Australia/Lord_Howe"} {
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			loc := mustLoad(t, zone)
			alloc := policy.MonthlyCalendar(decimal.NewFromInt(1), "")
			due, ok := alloc.Allocate(policy.Account{}, utc("1989-12-15T00:00:00Z"), loc)
			require.True(t, ok)
			seen := map[string]bool{due.Period.Key: true}
			for range 12 * 50 {
				next, ok := alloc.Allocate(policy.Account{}, due.Period.End, loc)
				require.True(t, ok)
				require.Equal(t, due.Period.End, next.Period.Start, "gap or overlap after %s", due.Period.Key)
				require.False(t, seen[next.Period.Key], "key %s repeated", next.Period.Key)
				seen[next.Period.Key] = true
				last, ok := alloc.Allocate(policy.Account{}, next.Period.End.Add(-time.Nanosecond), loc)
				require.True(t, ok)
				require.Equal(t, next, last)
				due = next
			}
		})
	}
}

func TestMonthlyCalendarNilLocationIsUTC(t *testing.T) {
	t.Parallel()
	due, ok := policy.MonthlyCalendar(decimal.NewFromInt(1), "").Allocate(policy.Account{}, utc("2026-11-30T16:30:00Z"), nil)
	require.True(t, ok)
	require.Equal(t, "2026-11", due.Period.Key)
	require.Equal(t, utc("2026-11-01T00:00:00Z"), due.Period.Start)
}

func TestMonthlyAnniversaryClamping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		anchor string
		starts []string // period starts k = 0, 1, 2, ... as dates
	}{
		{"31st leap year", "2028-01-31", []string{"2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31", "2028-06-30", "2028-07-31"}},
		{"31st common year", "2027-01-31", []string{"2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"}},
		{"30th leap year", "2028-01-30", []string{"2028-01-30", "2028-02-29", "2028-03-30", "2028-04-30", "2028-05-30"}},
		{"30th common year", "2027-01-30", []string{"2027-01-30", "2027-02-28", "2027-03-30", "2027-04-30"}},
		{"29th leap year", "2028-01-29", []string{"2028-01-29", "2028-02-29", "2028-03-29"}},
		{"29th common year", "2027-01-29", []string{"2027-01-29", "2027-02-28", "2027-03-29"}},
		{"feb 29 anchor", "2028-02-29", []string{"2028-02-29", "2028-03-29", "2028-04-29"}},
		{"31st across year end", "2027-10-31", []string{"2027-10-31", "2027-11-30", "2027-12-31", "2028-01-31", "2028-02-29", "2028-03-31"}},
		{"mid month", "2026-11-15", []string{"2026-11-15", "2026-12-15", "2027-01-15"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			anchor := utc(tc.anchor + "T09:15:00Z")
			acct := policy.Account{ID: "u", Anchor: anchor}
			alloc := policy.MonthlyAnniversary(decimal.NewFromInt(1000), "")
			for k, date := range tc.starts {
				start := utc(date + "T09:15:00Z")
				// At the start, in the middle of the period and at its last
				// instant: the same period, the same key.
				due, ok := alloc.Allocate(acct, start, time.UTC)
				require.True(t, ok)
				require.Equal(t, date, due.Period.Key, "period %d", k)
				require.Equal(t, start, due.Period.Start, "period %d", k)
				require.Equal(t, policy.AddMonthsClamped(anchor, k+1), due.Period.End, "period %d", k)
				require.Equal(t, "subscription_renewal", due.Source)
				for _, at := range []time.Time{start.Add(36 * time.Hour), due.Period.End.Add(-time.Nanosecond)} {
					again, ok := alloc.Allocate(acct, at, time.UTC)
					require.True(t, ok)
					require.Equal(t, due, again, "period %d at %s", k, at)
				}
				if k > 0 {
					// The instant before the start belongs to the previous
					// period (half-open), whose end is this start.
					prev, ok := alloc.Allocate(acct, start.Add(-time.Nanosecond), time.UTC)
					require.True(t, ok)
					require.Equal(t, tc.starts[k-1], prev.Period.Key)
					require.Equal(t, start, prev.Period.End)
					require.NotEqual(t, prev.Period.Key, due.Period.Key)
				}
			}
		})
	}
}

func TestMonthlyAnniversaryAnchorRules(t *testing.T) {
	t.Parallel()
	shanghai := mustLoad(t, "Asia/Shanghai")
	ny := mustLoad(t, "America/New_York")
	anchor := utc("2026-01-31T10:00:00Z")
	tests := []struct {
		name       string
		acct       policy.Account
		loc        *time.Location
		at         string
		ok         bool
		key        string
		start, end string
	}{
		{"before anchor is first period", policy.Account{Anchor: anchor}, time.UTC, "2025-06-01T00:00:00Z", true, "2026-01-31", "2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z"},
		{"at anchor", policy.Account{Anchor: anchor}, time.UTC, "2026-01-31T10:00:00Z", true, "2026-01-31", "2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z"},
		{"zero anchor uses created at", policy.Account{CreatedAt: anchor}, time.UTC, "2026-03-05T00:00:00Z", true, "2026-02-28", "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z"},
		{"anchor wins over created at", policy.Account{Anchor: anchor, CreatedAt: utc("2020-01-10T00:00:00Z")}, time.UTC, "2026-03-05T00:00:00Z", true, "2026-02-28", "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z"},
		{"no anchor no creation", policy.Account{}, time.UTC, "2026-03-05T00:00:00Z", false, "", "", ""},
		{"nil location is utc", policy.Account{Anchor: anchor}, nil, "2026-03-05T00:00:00Z", true, "2026-02-28", "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z"},
		// 20:00Z on Jan 31 is 04:00 on Feb 1 in Shanghai: periods start on
		// the 1st there.
		{"anchor read in zone", policy.Account{Anchor: utc("2026-01-31T20:00:00Z")}, shanghai, "2026-03-05T00:00:00Z", true, "2026-03-01", "2026-02-28T20:00:00Z", "2026-03-31T20:00:00Z"},
		{"years later", policy.Account{Anchor: anchor}, time.UTC, "2031-02-28T09:59:59Z", true, "2031-01-31", "2031-01-31T10:00:00Z", "2031-02-28T10:00:00Z"},
		// 02:30 on 2026-03-08 does not exist in New York: the period starts
		// at the transition, 03:00 EDT, and keeps the nominal date.
		{"anchor time in dst gap", policy.Account{Anchor: time.Date(2026, 2, 8, 2, 30, 0, 0, ny)}, ny, "2026-03-20T00:00:00Z", true, "2026-03-08", "2026-03-08T07:00:00Z", "2026-04-08T06:30:00Z"},
		{"period before dst gap ends at transition", policy.Account{Anchor: time.Date(2026, 2, 8, 2, 30, 0, 0, ny)}, ny, "2026-03-08T06:59:59Z", true, "2026-02-08", "2026-02-08T07:30:00Z", "2026-03-08T07:00:00Z"},
		// 01:30 on 2026-11-01 happens twice in New York: the earlier (EDT).
		{"anchor time in dst fold", policy.Account{Anchor: time.Date(2026, 10, 1, 1, 30, 0, 0, ny)}, ny, "2026-11-10T00:00:00Z", true, "2026-11-01", "2026-11-01T05:30:00Z", "2026-12-01T06:30:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			due, ok := policy.MonthlyAnniversary(decimal.NewFromInt(7), "lifetime_monthly").Allocate(tc.acct, utc(tc.at), tc.loc)
			require.Equal(t, tc.ok, ok)
			if !ok {
				require.Equal(t, policy.Due{}, due)
				return
			}
			require.Equal(t, tc.key, due.Period.Key)
			require.Equal(t, utc(tc.start), due.Period.Start)
			require.Equal(t, utc(tc.end), due.Period.End)
			require.Equal(t, time.UTC, due.Period.Start.Location())
			require.Equal(t, "lifetime_monthly", due.Source)
			require.True(t, decimal.NewFromInt(7).Equal(due.Amount))
		})
	}
}

func TestMonthlyAnniversaryContiguous(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	alloc := policy.MonthlyAnniversary(decimal.NewFromInt(1), "")
	for _, anchor := range []time.Time{
		time.Date(2027, 1, 31, 23, 59, 0, 0, ny),
		time.Date(2026, 1, 8, 2, 30, 0, 0, ny), // hits the March gap some years
		time.Date(2026, 1, 1, 1, 30, 0, 0, ny), // hits the November fold some years
	} {
		acct := policy.Account{Anchor: anchor}
		due, ok := alloc.Allocate(acct, anchor, ny)
		require.True(t, ok)
		require.Equal(t, anchor.UTC(), due.Period.Start)
		seen := map[string]bool{due.Period.Key: true}
		for range 12 * 30 {
			next, ok := alloc.Allocate(acct, due.Period.End, ny)
			require.True(t, ok)
			require.Equal(t, due.Period.End, next.Period.Start)
			require.True(t, next.Period.Start.Before(next.Period.End))
			require.False(t, seen[next.Period.Key], "key %s repeated", next.Period.Key)
			seen[next.Period.Key] = true
			due = next
		}
	}
}

func TestKeysStable(t *testing.T) {
	t.Parallel()
	shanghai := mustLoad(t, "Asia/Shanghai")
	cal := policy.MonthlyCalendar(decimal.NewFromInt(1), "")
	ann := policy.MonthlyAnniversary(decimal.NewFromInt(1), "")
	// 00:00Z is 08:00 in Shanghai: periods start on the 15th at 00:00Z.
	acct := policy.Account{Anchor: utc("2026-01-15T00:00:00Z")}
	tests := []struct {
		name  string
		alloc policy.Allocation
		a, b  string
		same  bool
	}{
		{"calendar same month", cal, "2026-11-30T15:59:59Z", "2026-11-01T00:00:00Z", true},
		{"calendar adjacent months", cal, "2026-11-30T15:59:59Z", "2026-11-30T16:00:00Z", false},
		{"calendar late run same month", cal, "2026-12-01T00:00:00Z", "2026-12-04T00:00:00Z", true},
		{"anniversary same period", ann, "2026-03-15T00:00:00Z", "2026-04-14T23:59:59Z", true},
		{"anniversary adjacent", ann, "2026-03-14T23:59:59Z", "2026-03-15T00:00:00Z", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			da, ok := tc.alloc.Allocate(acct, utc(tc.a), shanghai)
			require.True(t, ok)
			db, ok := tc.alloc.Allocate(acct, utc(tc.b), shanghai)
			require.True(t, ok)
			if tc.same {
				require.Equal(t, da.Period, db.Period)
			} else {
				require.NotEqual(t, da.Period.Key, db.Period.Key)
			}
		})
	}
}

func TestNone(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"2026-01-01T00:00:00Z", "2030-06-15T12:00:00Z"} {
		due, ok := policy.None().Allocate(policy.Account{ID: "u", Anchor: utc(at)}, utc(at), time.UTC)
		require.False(t, ok)
		require.Equal(t, policy.Due{}, due)
	}
}

func TestAllocationValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		alloc   policy.Allocation
		wantErr string
	}{
		{"calendar positive", policy.MonthlyCalendar(decimal.NewFromInt(50), ""), ""},
		{"calendar fractional", policy.MonthlyCalendar(decimal.RequireFromString("0.5"), ""), ""},
		{"calendar zero", policy.MonthlyCalendar(decimal.Zero, ""), "MonthlyCalendar amount 0 must be positive"},
		{"calendar negative", policy.MonthlyCalendar(decimal.NewFromInt(-5), ""), "MonthlyCalendar amount -5 must be positive"},
		{"anniversary positive", policy.MonthlyAnniversary(decimal.NewFromInt(1000), ""), ""},
		{"anniversary zero", policy.MonthlyAnniversary(decimal.Zero, ""), "MonthlyAnniversary amount 0 must be positive"},
		{"anniversary negative", policy.MonthlyAnniversary(decimal.NewFromInt(-1), ""), "MonthlyAnniversary amount -1 must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, ok := tc.alloc.(policy.Validator)
			require.True(t, ok)
			err := v.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}
