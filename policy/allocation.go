package policy

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Default sources of the built-in allocations, used when the source passed
// to the constructor is empty. They match the reference system's
// transaction types.
const (
	SourceMonthlyRefresh      = "monthly_refresh"
	SourceSubscriptionRenewal = "subscription_renewal"
)

// MonthlyCalendar returns an allocation that grants amount once per
// calendar month of the catalog's zone: the period containing t is
// [the 1st of t's month at 00:00, the 1st of the next month at 00:00) in
// loc, and its key is the month as "2006-01" ("2026-12" for
// 2026-11-30T16:30Z in Asia/Shanghai, where it is already December).
//
// An empty source means SourceMonthlyRefresh. amount must be positive: the
// allocation implements Validator, and Catalog.Validate refuses a zero or
// negative amount. Months start at local midnight whatever daylight saving
// does, so a month that changes the clocks is an hour shorter or longer; a
// midnight skipped by a DST gap starts the month at the transition (see
// AddMonthsClamped). Period Start and End are in UTC.
func MonthlyCalendar(amount decimal.Decimal, source string) Allocation {
	if source == "" {
		source = SourceMonthlyRefresh
	}
	return monthlyCalendar{amount: amount, source: source}
}

type monthlyCalendar struct {
	amount decimal.Decimal
	source string
}

// Allocate implements Allocation: the calendar month of loc containing t.
// A nil loc is UTC.
func (c monthlyCalendar) Allocate(_ Account, t time.Time, loc *time.Location) (Due, bool) {
	if loc == nil {
		loc = time.UTC
	}
	y, m, _ := t.In(loc).Date()
	// t's local month is the period in all but one case: when a DST gap
	// moves a month's start off local midnight, t may sit between the
	// resolved start and the wall-clock month change. Step to the month
	// whose [start, end) really holds t.
	start, end := monthBounds(y, m, loc)
	if t.Before(start) {
		y, m = addMonth(y, m, -1)
		start, end = monthBounds(y, m, loc)
	} else if !t.Before(end) {
		y, m = addMonth(y, m, 1)
		start, end = monthBounds(y, m, loc)
	}
	return Due{
		Period: Period{
			Start: start.UTC(),
			End:   end.UTC(),
			Key:   fmt.Sprintf("%04d-%02d", y, int(m)),
		},
		Amount: c.amount,
		Source: c.source,
	}, true
}

// Validate implements Validator: the amount must be positive.
func (c monthlyCalendar) Validate() error {
	if !c.amount.IsPositive() {
		return fmt.Errorf("MonthlyCalendar amount %s must be positive", c.amount)
	}
	return nil
}

// String describes the allocation for logs.
func (c monthlyCalendar) String() string {
	return fmt.Sprintf("MonthlyCalendar(%s, %q)", c.amount, c.source)
}

// monthBounds returns local midnight on the 1st of month m of year y and
// on the 1st of the next month.
func monthBounds(y int, m time.Month, loc *time.Location) (start, end time.Time) {
	ny, nm := addMonth(y, m, 1)
	return wallTime(y, m, 1, 0, 0, 0, 0, loc), wallTime(ny, nm, 1, 0, 0, 0, 0, loc)
}

// addMonth returns the year and month n months after (y, m).
func addMonth(y int, m time.Month, n int) (int, time.Month) {
	t := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	return t.Year(), t.Month()
}

// MonthlyAnniversary returns an allocation that grants amount once per
// month counted from the account's plan anchor (Account.Anchor, or
// Account.CreatedAt when the anchor is zero), read in the catalog's zone.
// The k-th period starts at AddMonthsClamped(anchor, k): the anchor's day
// of month and time of day, the day clamped to the month's last day and
// always re-derived from the anchor, so an anchor of Jan 31 gives periods
// starting Feb 28 (29 in a leap year), Mar 31, Apr 30, May 31, never
// drifting to the 28th. The period containing t is the one whose start is
// at or before t and whose successor's start is after it.
//
// For t before the anchor, Allocate returns the first period (k = 0),
// which starts at the anchor: a plan that starts in the future is owed its
// first month, not a month before it began. An account with neither an
// anchor nor a creation time gets nothing (false).
//
// The key is the period's start date in loc as "2006-01-02". An anchor
// time of day that falls in a DST gap on some month's start day starts
// that period at the transition (see AddMonthsClamped); its key keeps the
// nominal date. An empty source means SourceSubscriptionRenewal; amount
// must be positive (see Validate). Period Start and End are in UTC.
func MonthlyAnniversary(amount decimal.Decimal, source string) Allocation {
	if source == "" {
		source = SourceSubscriptionRenewal
	}
	return monthlyAnniversary{amount: amount, source: source}
}

type monthlyAnniversary struct {
	amount decimal.Decimal
	source string
}

// Allocate implements Allocation: the anniversary month containing t. A
// nil loc is UTC.
func (c monthlyAnniversary) Allocate(a Account, t time.Time, loc *time.Location) (Due, bool) {
	if loc == nil {
		loc = time.UTC
	}
	anchor := a.Anchor
	if anchor.IsZero() {
		anchor = a.CreatedAt
	}
	if anchor.IsZero() {
		return Due{}, false
	}
	anchor = anchor.In(loc)
	lt := t.In(loc)
	// Months between the anchor and t by the calendar: the answer or one
	// more than it (t's day of month may be before the anchor's). The
	// loops settle it against the real boundaries, which also covers DST
	// and clamping.
	k := (lt.Year()-anchor.Year())*12 + int(lt.Month()) - int(anchor.Month())
	k = max(k, 0)
	for k > 0 && t.Before(AddMonthsClamped(anchor, k)) {
		k--
	}
	for !t.Before(AddMonthsClamped(anchor, k+1)) {
		k++
	}
	y, m, d := addMonthsDate(anchor, k)
	return Due{
		Period: Period{
			Start: AddMonthsClamped(anchor, k).UTC(),
			End:   AddMonthsClamped(anchor, k+1).UTC(),
			Key:   fmt.Sprintf("%04d-%02d-%02d", y, int(m), d),
		},
		Amount: c.amount,
		Source: c.source,
	}, true
}

// Validate implements Validator: the amount must be positive.
func (c monthlyAnniversary) Validate() error {
	if !c.amount.IsPositive() {
		return fmt.Errorf("MonthlyAnniversary amount %s must be positive", c.amount)
	}
	return nil
}

// String describes the allocation for logs.
func (c monthlyAnniversary) String() string {
	return fmt.Sprintf("MonthlyAnniversary(%s, %q)", c.amount, c.source)
}

// None returns an allocation that never grants on a schedule: Allocate
// always returns (Due{}, false). It is the allocation of plans whose credits
// come only from payments the host reports (a monthly subscription granted
// per paid invoice), and what a Plan with a nil Allocation means.
func None() Allocation { return none{} }

type none struct{}

// Allocate implements Allocation: nothing is ever due.
func (none) Allocate(Account, time.Time, *time.Location) (Due, bool) { return Due{}, false }

// String describes the allocation for logs.
func (none) String() string { return "None()" }
