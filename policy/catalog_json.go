package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shopspring/decimal"
)

// A catalog as JSON, so that plans can be configured without code. The
// reference catalog reads:
//
//	{
//	  "location": "UTC",
//	  "defaultPlan": "free",
//	  "signupGift": {"amount": "50", "source": "register_gift", "expiry": {"type": "after_days", "days": 30}},
//	  "plans": [
//	    {"id": "free", "allocation": {"type": "monthly_calendar", "amount": "50", "source": "monthly_refresh"},
//	     "expiry": {"type": "after_days", "days": 30}},
//	    {"id": "pro_monthly", "allocation": {"type": "per_invoice", "amount": "1000", "source": "subscription_renewal"},
//	     "expiry": {"type": "after_days", "days": 30}},
//	    ...
//	  ],
//	  "packs": [{"id": "basic", "amount": "100", "source": "purchase_package", "expiry": {"type": "after_days", "days": 30}}, ...]
//	}
//
// Pools and feature prices (all optional): a pack or the signup gift may
// name the "pool" it grants into, and "features": [{"id": "image_hd",
// "pool": "image", "price": "2.5"}, ...] prices features in credits per
// unit.
//
// Amounts are decimal strings (JSON numbers are accepted too). An
// allocation is {"type": "monthly_calendar" | "monthly_anniversary" |
// "per_invoice", "amount", "source"} or {"type": "none"}; an expiry is {"type":
// "after_days", "days"}, {"type": "at_period_end"} or {"type": "never"};
// an omitted allocation or expiry is null, as in Go (none, never).
// "location" is an IANA zone name ("Asia/Shanghai"); omitted or "" is UTC,
// and "Local" is refused so that periods never depend on the machine's
// zone. Unknown fields are errors, so a misspelt key is not silently
// ignored.

// ParseCatalog reads a catalog from JSON and validates it with
// Catalog.Validate, the check ledger.New makes. Errors wrap
// ErrInvalidCatalog and say which value was wrong (JSON syntax errors and
// unknown fields included).
func ParseCatalog(data []byte) (*Catalog, error) {
	c := &Catalog{}
	if err := c.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return c, nil
}

// UnmarshalJSON implements json.Unmarshaler: it decodes the JSON form
// above strictly (unknown fields are errors) and validates the result
// with Validate. Errors wrap ErrInvalidCatalog.
func (c *Catalog) UnmarshalJSON(data []byte) error {
	var in catalogJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCatalog, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the catalog object", ErrInvalidCatalog)
	}
	out, err := in.catalog()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCatalog, err)
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*c = *out
	return nil
}

// MarshalJSON implements json.Marshaler with the JSON form above, which
// ParseCatalog reads back to an equal catalog. Allocations and expiries
// other than this package's built-in ones cannot be written: an error
// names the plan.
func (c *Catalog) MarshalJSON() ([]byte, error) {
	out := catalogJSON{
		DefaultPlan: c.DefaultPlan,
		Backfill:    c.Backfill,
		Plans:       []planJSON{},
	}
	if c.Location != nil {
		if c.Location == time.Local {
			return nil, fmt.Errorf("%w: location Local cannot be written; use an IANA zone name", ErrInvalidCatalog)
		}
		out.Location = c.Location.String()
	}
	if g := c.SignupGift; g != nil {
		e, err := expiryToJSON(g.Expiry)
		if err != nil {
			return nil, fmt.Errorf("signup gift: %w", err)
		}
		out.SignupGift = &giftJSON{Amount: g.Amount, Source: g.Source, Expiry: e, Pool: g.Pool}
	}
	for _, p := range c.Plans {
		a, err := allocationToJSON(p.Allocation)
		if err != nil {
			return nil, fmt.Errorf("plan %q: %w", p.ID, err)
		}
		e, err := expiryToJSON(p.Expiry)
		if err != nil {
			return nil, fmt.Errorf("plan %q: %w", p.ID, err)
		}
		pj := planJSON{ID: p.ID, Allocation: a, Expiry: e, Priority: p.Priority}
		planV03ToJSON(&p, &pj)
		pj.LowBalance = p.LowBalance
		out.Plans = append(out.Plans, pj)
	}
	for _, p := range c.Packs {
		e, err := expiryToJSON(p.Expiry)
		if err != nil {
			return nil, fmt.Errorf("pack %q: %w", p.ID, err)
		}
		out.Packs = append(out.Packs, packJSON{ID: p.ID, Amount: p.Amount, Source: p.Source, Expiry: e, Priority: p.Priority, Pool: p.Pool})
	}
	for _, f := range c.Features {
		out.Features = append(out.Features, featureJSON{ID: f.ID, Pool: f.Pool, Price: f.Price})
	}
	out.LowBalance = c.LowBalance
	if c.ExpiringNotice != 0 {
		out.ExpiringNotice = c.ExpiringNotice.String()
	}
	return json.Marshal(out)
}

// eventsInto sets the catalog's event settings (v0.3) from the JSON.
func (in *catalogJSON) eventsInto(c *Catalog) error {
	c.LowBalance = in.LowBalance
	if in.ExpiringNotice != "" {
		d, err := time.ParseDuration(in.ExpiringNotice)
		if err != nil {
			return fmt.Errorf("expiringNotice %q: %w", in.ExpiringNotice, err)
		}
		c.ExpiringNotice = d
	}
	return nil
}

type catalogJSON struct {
	Location    string     `json:"location,omitempty"`
	DefaultPlan string     `json:"defaultPlan,omitempty"`
	Backfill    bool       `json:"backfill,omitempty"`
	SignupGift  *giftJSON  `json:"signupGift,omitempty"`
	Plans       []planJSON `json:"plans"`
	Packs       []packJSON `json:"packs,omitempty"`
	// Pools and feature prices (see features.go).
	Features []featureJSON `json:"features,omitempty"`

	// Events (v0.3): thresholds per pool, the notice as a Go duration
	// ("72h").
	LowBalance     map[string]decimal.Decimal `json:"lowBalance,omitempty"`
	ExpiringNotice string                     `json:"expiringNotice,omitempty"`
}

type giftJSON struct {
	Amount decimal.Decimal `json:"amount"`
	Source string          `json:"source,omitempty"`
	Expiry *expiryJSON     `json:"expiry,omitempty"`
	Pool   string          `json:"pool,omitempty"`
}

type planJSON struct {
	ID         string          `json:"id"`
	Allocation *allocationJSON `json:"allocation,omitempty"`
	Expiry     *expiryJSON     `json:"expiry,omitempty"`
	Priority   int             `json:"priority,omitempty"`
	// v0.3 (plans.go)
	Overdraft map[string]decimal.Decimal `json:"overdraft,omitempty"`
	Rollover  *rolloverJSON              `json:"rollover,omitempty"`

	LowBalance map[string]decimal.Decimal `json:"lowBalance,omitempty"` // v0.3 events
}

type packJSON struct {
	ID       string          `json:"id"`
	Amount   decimal.Decimal `json:"amount"`
	Source   string          `json:"source,omitempty"`
	Expiry   *expiryJSON     `json:"expiry,omitempty"`
	Priority int             `json:"priority,omitempty"`
	Pool     string          `json:"pool,omitempty"`
}

type allocationJSON struct {
	Type   string           `json:"type"`
	Amount *decimal.Decimal `json:"amount,omitempty"`
	Source string           `json:"source,omitempty"`
	// Pools, instead of Amount, grants into several pools (InPools).
	Pools []poolAmountJSON `json:"pools,omitempty"`
}

type expiryJSON struct {
	Type string `json:"type"`
	Days *int   `json:"days,omitempty"`
}

// The type names of allocations and expiries in JSON.
const (
	jsonMonthlyCalendar    = "monthly_calendar"
	jsonMonthlyAnniversary = "monthly_anniversary"
	jsonNone               = "none"
	jsonAfterDays          = "after_days"
	jsonAtPeriodEnd        = "at_period_end"
	jsonNever              = "never"
)

func (in *catalogJSON) catalog() (*Catalog, error) {
	c := &Catalog{DefaultPlan: in.DefaultPlan, Backfill: in.Backfill}
	switch in.Location {
	case "":
	case "Local":
		return nil, errors.New(`location "Local" would make periods depend on the machine's zone; use an IANA zone name`)
	default:
		loc, err := time.LoadLocation(in.Location)
		if err != nil {
			return nil, fmt.Errorf("location %q: %w", in.Location, err)
		}
		c.Location = loc
	}
	if g := in.SignupGift; g != nil {
		e, err := g.Expiry.expiry()
		if err != nil {
			return nil, fmt.Errorf("signup gift: %w", err)
		}
		c.SignupGift = &Gift{Amount: g.Amount, Source: g.Source, Expiry: e, Pool: g.Pool}
	}
	for i, p := range in.Plans {
		a, err := p.Allocation.allocation()
		if err != nil {
			return nil, fmt.Errorf("plan %d (%q): %w", i, p.ID, err)
		}
		e, err := p.Expiry.expiry()
		if err != nil {
			return nil, fmt.Errorf("plan %d (%q): %w", i, p.ID, err)
		}
		plan := Plan{ID: p.ID, Allocation: a, Expiry: e, Priority: p.Priority}
		p.planV03(&plan)
		plan.LowBalance = p.LowBalance
		c.Plans = append(c.Plans, plan)
	}
	for i, p := range in.Packs {
		e, err := p.Expiry.expiry()
		if err != nil {
			return nil, fmt.Errorf("pack %d (%q): %w", i, p.ID, err)
		}
		c.Packs = append(c.Packs, Pack{ID: p.ID, Amount: p.Amount, Source: p.Source, Expiry: e, Priority: p.Priority, Pool: p.Pool})
	}
	for _, f := range in.Features {
		c.Features = append(c.Features, Feature{ID: f.ID, Pool: f.Pool, Price: f.Price})
	}
	if err := in.eventsInto(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (a *allocationJSON) allocation() (Allocation, error) {
	if a == nil {
		return nil, nil
	}
	if len(a.Pools) > 0 {
		return a.inPools()
	}
	switch a.Type {
	case jsonPerInvoice:
		if a.Amount == nil {
			return nil, fmt.Errorf("allocation %q has no amount", a.Type)
		}
		return PerInvoice(*a.Amount, a.Source), nil
	case jsonMonthlyCalendar, jsonMonthlyAnniversary:
		if a.Amount == nil {
			return nil, fmt.Errorf("allocation %q has no amount", a.Type)
		}
		if a.Type == jsonMonthlyCalendar {
			return MonthlyCalendar(*a.Amount, a.Source), nil
		}
		return MonthlyAnniversary(*a.Amount, a.Source), nil
	case jsonNone:
		if a.Amount != nil || a.Source != "" {
			return nil, errors.New(`allocation "none" takes no amount or source`)
		}
		return None(), nil
	default:
		return nil, fmt.Errorf("allocation type %q is not one of %q, %q, %q, %q", a.Type, jsonMonthlyCalendar, jsonMonthlyAnniversary, jsonPerInvoice, jsonNone)
	}
}

func (e *expiryJSON) expiry() (Expiry, error) {
	if e == nil {
		return nil, nil
	}
	switch e.Type {
	case jsonAfterDays:
		if e.Days == nil {
			return nil, fmt.Errorf("expiry %q has no days", e.Type)
		}
		return AfterDays(*e.Days), nil
	case jsonAtPeriodEnd, jsonNever:
		if e.Days != nil {
			return nil, fmt.Errorf("expiry %q takes no days", e.Type)
		}
		if e.Type == jsonNever {
			return Never(), nil
		}
		return AtPeriodEnd(), nil
	default:
		return nil, fmt.Errorf("expiry type %q is not one of %q, %q, %q", e.Type, jsonAfterDays, jsonAtPeriodEnd, jsonNever)
	}
}

func allocationToJSON(a Allocation) (*allocationJSON, error) {
	switch v := a.(type) {
	case nil:
		return nil, nil
	case monthlyCalendar:
		return &allocationJSON{Type: jsonMonthlyCalendar, Amount: &v.amount, Source: v.source}, nil
	case monthlyAnniversary:
		return &allocationJSON{Type: jsonMonthlyAnniversary, Amount: &v.amount, Source: v.source}, nil
	case none:
		return &allocationJSON{Type: jsonNone}, nil
	case perInvoice:
		return &allocationJSON{Type: jsonPerInvoice, Amount: &v.amount, Source: v.source}, nil
	case inPools:
		return inPoolsToJSON(v)
	default:
		return nil, fmt.Errorf("%w: allocation %T has no JSON form", ErrInvalidCatalog, a)
	}
}

func expiryToJSON(e Expiry) (*expiryJSON, error) {
	switch v := e.(type) {
	case nil:
		return nil, nil
	case afterDays:
		days := v.days
		return &expiryJSON{Type: jsonAfterDays, Days: &days}, nil
	case atPeriodEnd:
		return &expiryJSON{Type: jsonAtPeriodEnd}, nil
	case never:
		return &expiryJSON{Type: jsonNever}, nil
	default:
		return nil, fmt.Errorf("%w: expiry %T has no JSON form", ErrInvalidCatalog, e)
	}
}

// The JSON of what v0.3 adds to plans (plans.go):
//
//	{"id": "pro", "allocation": {"type": "monthly_calendar", "source": "monthly_refresh",
//	   "pools": [{"pool": "chat", "amount": "1000"}, {"pool": "image", "amount": "50"}]},
//	 "overdraft": {"chat": "100"}, "rollover": {"max": "500"}}
//	{"id": "pro_monthly", "allocation": {"type": "per_invoice", "amount": "1000", "source": "subscription_renewal"}}
//
// An allocation with "pools" takes no "amount" (InPools); "rollover" has
// "max" (a decimal) or "percent" (an integer 0..100).

const jsonPerInvoice = "per_invoice"

type poolAmountJSON struct {
	Pool   string          `json:"pool"`
	Amount decimal.Decimal `json:"amount"`
}

type rolloverJSON struct {
	Max     *decimal.Decimal `json:"max,omitempty"`
	Percent int              `json:"percent,omitempty"`
}

func (a *allocationJSON) inPools() (Allocation, error) {
	if a.Amount != nil {
		return nil, fmt.Errorf("allocation %q has both amount and pools", a.Type)
	}
	var inner Allocation
	switch a.Type {
	case jsonMonthlyCalendar:
		inner = MonthlyCalendar(decimal.Zero, a.Source)
	case jsonMonthlyAnniversary:
		inner = MonthlyAnniversary(decimal.Zero, a.Source)
	case jsonPerInvoice:
		inner = PerInvoice(decimal.Zero, a.Source)
	default:
		return nil, fmt.Errorf("allocation type %q cannot have pools (only %q, %q, %q)", a.Type, jsonMonthlyCalendar, jsonMonthlyAnniversary, jsonPerInvoice)
	}
	pools := make([]PoolAmount, len(a.Pools))
	for i, p := range a.Pools {
		pools[i] = PoolAmount{Pool: p.Pool, Amount: p.Amount}
	}
	return InPools(inner, pools...), nil
}

func inPoolsToJSON(v inPools) (*allocationJSON, error) {
	out, err := allocationToJSON(v.inner)
	if err != nil {
		return nil, err
	}
	if out == nil || out.Type == jsonNone {
		return nil, fmt.Errorf("%w: InPools of %v has no JSON form", ErrInvalidCatalog, v.inner)
	}
	out.Amount = nil
	for _, p := range v.pools {
		out.Pools = append(out.Pools, poolAmountJSON{Pool: p.Pool, Amount: p.Amount})
	}
	return out, nil
}

func (p *planJSON) planV03(plan *Plan) {
	if len(p.Overdraft) > 0 {
		plan.Overdraft = p.Overdraft
	}
	if r := p.Rollover; r != nil {
		plan.Rollover = &Rollover{Percent: r.Percent}
		if r.Max != nil {
			plan.Rollover.Max = *r.Max
		}
	}
}

func planV03ToJSON(plan *Plan, p *planJSON) {
	if len(plan.Overdraft) > 0 {
		p.Overdraft = plan.Overdraft
	}
	if r := plan.Rollover; r != nil {
		p.Rollover = &rolloverJSON{Percent: r.Percent}
		if !r.Max.IsZero() {
			m := r.Max
			p.Rollover.Max = &m
		}
	}
}
