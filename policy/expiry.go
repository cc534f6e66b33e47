package policy

import (
	"fmt"
	"time"
)

// MaxAfterDays is the largest n AfterDays accepts: n*24h must fit in a
// time.Duration (about 292 years).
const MaxAfterDays = int(int64(1<<63-1) / int64(24*time.Hour))

// AfterDays returns an expiry n*24 hours after the grant: an exact
// duration, not n calendar days, so a grant made the evening before a DST
// change expires at a different local hour, but always exactly n*24h
// later, the same in every zone.
//
// n must be in 1..MaxAfterDays. For grants that never expire use Never():
// the reference system read 0 as "never" on one path and as an error on
// another, so here 0 and negative values are invalid and Validate (hence
// Catalog.Validate) says so. Should an invalid AfterDays be used anyway,
// ExpiresAt returns the grant time itself (the grant is born expired, the
// safe side) for n <= 0, and saturates at MaxAfterDays for larger n.
// Returned times are in UTC.
func AfterDays(n int) Expiry { return afterDays{days: n} }

type afterDays struct{ days int }

// ExpiresAt implements Expiry: granted + days*24h, in UTC.
func (e afterDays) ExpiresAt(granted time.Time, _ Period) *time.Time {
	days := min(max(e.days, 0), MaxAfterDays)
	at := granted.Add(time.Duration(days) * 24 * time.Hour).UTC()
	return &at
}

// Validate implements Validator: days must be in 1..MaxAfterDays.
func (e afterDays) Validate() error {
	if e.days <= 0 {
		return fmt.Errorf("AfterDays(%d): days must be positive; use Never() for grants that do not expire", e.days)
	}
	if e.days > MaxAfterDays {
		return fmt.Errorf("AfterDays(%d): days must be at most %d; use Never() for grants that do not expire", e.days, MaxAfterDays)
	}
	return nil
}

// String describes the expiry for logs.
func (e afterDays) String() string { return fmt.Sprintf("AfterDays(%d)", e.days) }

// AtPeriodEnd returns an expiry at the end of the period the grant was
// made for, so that a month's credits do not outlive the month. Grants
// made for no period (gifts and packs, whose Period is the zero Period)
// have no period end, and for them it returns nil: they never expire.
// Returned times are in UTC.
func AtPeriodEnd() Expiry { return atPeriodEnd{} }

type atPeriodEnd struct{}

// ExpiresAt implements Expiry: p.End in UTC, or nil when p has no end.
func (atPeriodEnd) ExpiresAt(_ time.Time, p Period) *time.Time {
	if p.IsZero() || p.End.IsZero() {
		return nil
	}
	at := p.End.UTC()
	return &at
}

// String describes the expiry for logs.
func (atPeriodEnd) String() string { return "AtPeriodEnd()" }

// Never returns an expiry under which grants never expire: ExpiresAt is
// always nil. A nil Expiry in a Plan, Gift or Pack means the same.
func Never() Expiry { return never{} }

type never struct{}

// ExpiresAt implements Expiry: never (nil).
func (never) ExpiresAt(time.Time, Period) *time.Time { return nil }

// String describes the expiry for logs.
func (never) String() string { return "Never()" }
