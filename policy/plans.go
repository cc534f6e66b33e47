package policy

import (
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// This file holds what v0.3 adds to plans: overdrafts, rollover, grants
// per paid invoice and grants into several pools.

// Rollover carries what remains of a plan's grant for one period into the
// next (see Plan.Rollover).
//
// The cap on what rolls over, per pool, is Max when Max > 0; otherwise
// Percent (0..100) of what the plan grants into that pool per period,
// rounded down to the ledger's scale. Both zero: nothing rolls over (the
// plan behaves as without a Rollover). A negative Max, or a Percent
// outside 0..100, is refused by Catalog.Validate.
type Rollover struct {
	Max     decimal.Decimal
	Percent int
}

// Validate implements Validator.
func (r *Rollover) Validate() error {
	if r == nil {
		return nil
	}
	if r.Max.IsNegative() {
		return fmt.Errorf("rollover max %s is negative", r.Max)
	}
	if r.Percent < 0 || r.Percent > 100 {
		return fmt.Errorf("rollover percent %d is outside 0..100", r.Percent)
	}
	return nil
}

// Cap returns the most that may roll over into a pool whose per-period
// grant is granted: Max when positive, else Percent of granted rounded
// down to scale decimal places. A nil Rollover caps at zero.
func (r *Rollover) Cap(granted decimal.Decimal, scale int32) decimal.Decimal {
	if r == nil {
		return decimal.Zero
	}
	if r.Max.IsPositive() {
		return r.Max
	}
	return granted.Mul(decimal.NewFromInt(int64(r.Percent))).Div(decimal.NewFromInt(100)).RoundFloor(scale)
}

// PoolAmount is what an allocation grants into one credit pool per
// period ("" is the default pool).
type PoolAmount struct {
	Pool   string
	Amount decimal.Decimal
}

// InPools returns an allocation with a's periods and source that grants,
// each period, every PoolAmount into its pool instead of a's own amount:
// a plan that allocates into several pools ("chat" 1000 and "image" 50 a
// month), or into one pool other than the default. Each Due it returns
// has Grants set to pools and Amount their sum. The pools must be
// distinct and their amounts positive (Validate). a's own amount is not
// used: for this package's allocations it is replaced by the sum, so
// InPools(MonthlyCalendar(decimal.Zero, ""), ...) is valid.
//
// InPools of a PerInvoice allocation grants the pools per paid invoice.
func InPools(a Allocation, pools ...PoolAmount) Allocation {
	ps := append([]PoolAmount(nil), pools...)
	sum := decimal.Zero
	for _, p := range ps {
		sum = sum.Add(p.Amount)
	}
	switch v := a.(type) {
	case monthlyCalendar:
		v.amount = sum
		a = v
	case monthlyAnniversary:
		v.amount = sum
		a = v
	case perInvoice:
		v.amount = sum
		a = v
	}
	return inPools{inner: a, pools: ps}
}

type inPools struct {
	inner Allocation
	pools []PoolAmount
}

// Allocate implements Allocation: the inner allocation's period and
// source, with the pools' grants.
func (p inPools) Allocate(a Account, t time.Time, loc *time.Location) (Due, bool) {
	if p.inner == nil {
		return Due{}, false
	}
	d, ok := p.inner.Allocate(a, t, loc)
	if !ok {
		return Due{}, false
	}
	return p.withPools(d), true
}

// AllocateInvoice implements InvoiceAllocation when the inner allocation
// does.
func (p inPools) AllocateInvoice(a Account, start time.Time, loc *time.Location) (Due, bool) {
	ia, ok := p.inner.(InvoiceAllocation)
	if !ok {
		return Due{}, false
	}
	d, ok := ia.AllocateInvoice(a, start, loc)
	if !ok {
		return Due{}, false
	}
	return p.withPools(d), true
}

func (p inPools) withPools(d Due) Due {
	d.Grants = append([]PoolAmount(nil), p.pools...)
	d.Amount = decimal.Zero
	for _, g := range p.pools {
		d.Amount = d.Amount.Add(g.Amount)
	}
	return d
}

// Validate implements Validator: at least one pool, pools distinct and
// valid text, amounts positive, and the inner allocation valid (its own
// amount aside).
func (p inPools) Validate() error {
	if p.inner == nil {
		return errors.New("InPools of a nil allocation")
	}
	if len(p.pools) == 0 {
		return errors.New("InPools names no pool")
	}
	seen := map[string]bool{}
	for _, g := range p.pools {
		if err := checkPoolName(g.Pool); err != nil {
			return err
		}
		if seen[g.Pool] {
			return fmt.Errorf("InPools names pool %q twice", g.Pool)
		}
		seen[g.Pool] = true
		if !g.Amount.IsPositive() {
			return fmt.Errorf("InPools amount %s of pool %q must be positive", g.Amount, g.Pool)
		}
	}
	switch p.inner.(type) {
	case monthlyCalendar, monthlyAnniversary, perInvoice:
		return nil // their only check is of the amount, which is the pools' sum
	}
	return validate(p.inner)
}

// String describes the allocation for logs.
func (p inPools) String() string {
	return fmt.Sprintf("InPools(%v, %v)", p.inner, p.pools)
}

// InvoiceAllocation is implemented by allocations that grant per paid
// invoice rather than by the calendar (PerInvoice, and InPools of it).
// Ledger.GrantInvoice calls it; the distribution never grants them
// (their Allocate returns false).
type InvoiceAllocation interface {
	Allocation
	// AllocateInvoice returns the grant owed for a paid invoice whose
	// billing period starts at start, and false when none is.
	AllocateInvoice(a Account, start time.Time, loc *time.Location) (Due, bool)
}

// PerInvoice returns an allocation that grants amount per paid invoice
// (MkSaaS's monthly subscriptions, SUBSCRIPTION_RENEWAL), never by the
// calendar: Allocate always returns false, so Distribute and SetPlan
// grant nothing for it, and the host's payment webhook calls
// Ledger.GrantInvoice.
//
// The invoice's period is one month from its start: [start,
// AddMonthsClamped(start, 1)) in the catalog's zone, keyed by its start
// as "2006-01-02T15:04:05Z" (UTC), which is what AtPeriodEnd and a
// plan's Rollover go by. An empty source means SourceSubscriptionRenewal;
// amount must be positive (Validate).
func PerInvoice(amount decimal.Decimal, source string) Allocation {
	if source == "" {
		source = SourceSubscriptionRenewal
	}
	return perInvoice{amount: amount, source: source}
}

// InvoicePeriodKeyLayout is the layout of a PerInvoice period's key: its
// start in UTC to the microsecond, fixed width, so keys sort as their
// instants do.
const InvoicePeriodKeyLayout = "2006-01-02T15:04:05.000000Z"

type perInvoice struct {
	amount decimal.Decimal
	source string
}

// Allocate implements Allocation: nothing is due by the calendar.
func (perInvoice) Allocate(Account, time.Time, *time.Location) (Due, bool) { return Due{}, false }

// AllocateInvoice implements InvoiceAllocation.
func (c perInvoice) AllocateInvoice(_ Account, start time.Time, loc *time.Location) (Due, bool) {
	if loc == nil {
		loc = time.UTC
	}
	if start.IsZero() {
		return Due{}, false
	}
	s := start.In(loc)
	return Due{
		Period: Period{
			Start: start.UTC(),
			End:   AddMonthsClamped(s, 1).UTC(),
			Key:   start.UTC().Format(InvoicePeriodKeyLayout),
		},
		Amount: c.amount,
		Source: c.source,
	}, true
}

// Validate implements Validator: the amount must be positive.
func (c perInvoice) Validate() error {
	if !c.amount.IsPositive() {
		return fmt.Errorf("PerInvoice amount %s must be positive", c.amount)
	}
	return nil
}

// String describes the allocation for logs.
func (c perInvoice) String() string {
	return fmt.Sprintf("PerInvoice(%s, %q)", c.amount, c.source)
}

// IsPerInvoice reports whether a grants per paid invoice (see
// InvoiceAllocation).
func IsPerInvoice(a Allocation) bool {
	switch v := a.(type) {
	case perInvoice:
		return true
	case inPools:
		return IsPerInvoice(v.inner)
	case InvoiceAllocation:
		return true
	}
	return false
}

// maxPoolName bounds a pool's name, as the ledger bounds ids.
const maxPoolName = 255

func checkPoolName(pool string) error {
	if len(pool) > maxPoolName {
		return fmt.Errorf("pool %q is %d bytes, more than %d", pool, len(pool), maxPoolName)
	}
	if !utf8.ValidString(pool) {
		return fmt.Errorf("pool %q is not valid UTF-8", pool)
	}
	for _, r := range pool {
		if r == 0 {
			return fmt.Errorf("pool %q contains a NUL byte", pool)
		}
	}
	return nil
}

// validatePlanV03 checks what v0.3 adds to a plan: overdrafts not below
// zero, a valid rollover.
func validatePlanV03(p *Plan) error {
	pools := make([]string, 0, len(p.Overdraft))
	for pool := range p.Overdraft {
		pools = append(pools, pool)
	}
	sort.Strings(pools)
	for _, pool := range pools {
		if err := checkPoolName(pool); err != nil {
			return fmt.Errorf("overdraft: %w", err)
		}
		if limit := p.Overdraft[pool]; limit.IsNegative() {
			return fmt.Errorf("overdraft %s of pool %q is below zero", limit, pool)
		}
	}
	return p.Rollover.Validate()
}

// OverdraftOf returns how far below zero the plan lets a pool go: its
// Overdraft entry, zero when it has none (or p is nil).
func (p *Plan) OverdraftOf(pool string) decimal.Decimal {
	if p == nil {
		return decimal.Zero
	}
	return p.Overdraft[pool]
}
