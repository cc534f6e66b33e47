package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Catalog is the set of plans a ledger distributes credits for.
type Catalog struct {
	// Location sets period boundaries (calendar months start at midnight
	// on the 1st in this zone). Nil: UTC.
	Location *time.Location
	// DefaultPlan is the plan of accounts that were never given one (the
	// free plan). Empty: such accounts get nothing from the distribution.
	DefaultPlan string
	// SignupGift, when set, is granted once per account by
	// Ledger.SetPlan, when it gives an account its first plan (a new
	// account, or one so far only written to by grants), whatever that
	// plan allocates (a None() plan gets it too). Changing plans later
	// does not grant it again. Ledger.SetPlans (bulk imports) and
	// Ledger.Distribute never grant it: an account imported with SetPlans,
	// or left on DefaultPlan without a SetPlan, does not get it. Nil: no
	// gift.
	SignupGift *Gift
	// Plans are the plans by ID.
	Plans []Plan
	// Packs are credit packs sold one at a time (granted by the host's
	// payment webhook with Ledger.GrantPack); optional.
	Packs []Pack
	// Backfill, when true, makes the distribution grant every period missed
	// since an account's last grant; when false (the default), a run that
	// missed periods grants the current one only.
	Backfill bool

	// Features price usage in credits (see Feature): Ledger.Consume and
	// Ledger.Hold take a feature and a quantity instead of an amount.
	// Optional.
	Features []Feature

	// Events (v0.3, see Ledger.ClaimEvents).
	//
	// LowBalance is the default threshold per pool ("" is the default
	// pool) below which a write emits balance.low, for accounts whose plan
	// sets none for that pool; nil or a missing pool: none. A threshold is
	// >= 0 with at most the ledger's scale of decimal places.
	LowBalance map[string]decimal.Decimal
	// ExpiringNotice is how long before a lot expires its
	// credits.expiring event is written (by Distribute, or by the first
	// write of the account within the notice): 0, the default, writes
	// none; otherwise at least a second.
	ExpiringNotice time.Duration
}

// Gift is a one-off grant.
type Gift struct {
	Amount decimal.Decimal
	Source string // default "register_gift"
	Expiry Expiry // nil: Never()
	Pool   string // the credit pool it grants into; "" the default pool
}

// Plan is one plan of the catalog.
type Plan struct {
	ID         string
	Allocation Allocation // what the distribution grants, and when; nil: None()
	Expiry     Expiry     // when those grants expire; nil: Never()
	Priority   int        // burn priority of its grants (lower burns first)

	// v0.3: overdrafts and rollover (see plans.go).

	// Overdraft lets a pool's balance go below zero under this plan, down
	// to minus the pool's limit ("" is the default pool): Consume and
	// Capture past what is available then succeed, the part past it owed
	// as a debt that the next credits granted into the pool pay first.
	// The account's current plan decides. A pool missing here (or a nil
	// map) has no overdraft, as in v0.2; a limit below zero is refused by
	// Validate.
	Overdraft map[string]decimal.Decimal
	// Rollover, when set, carries what remains of a period's grant of
	// this plan into the next period, up to its cap, when the next
	// period is granted (Distribute, or GrantInvoice for a PerInvoice
	// plan); the rest expires. Nil: nothing rolls over.
	Rollover *Rollover
	// LowBalance is the plan's balance.low threshold per pool, over the
	// catalog's (Catalog.LowBalance) for the pools it names.
	LowBalance map[string]decimal.Decimal
}

// Pack is a credit pack a user buys.
type Pack struct {
	ID       string
	Amount   decimal.Decimal
	Source   string // default "purchase_package"
	Expiry   Expiry // nil: Never()
	Priority int
	Pool     string // the credit pool it grants into; "" the default pool
}

// ErrInvalidCatalog is wrapped by every error Validate returns.
var ErrInvalidCatalog = errors.New("creditledger/policy: invalid catalog")

// Loc returns the catalog's location, UTC when unset. A nil catalog has
// UTC.
func (c *Catalog) Loc() *time.Location {
	if c == nil || c.Location == nil {
		return time.UTC
	}
	return c.Location
}

// Plan returns the plan with the given ID.
func (c *Catalog) Plan(id string) (*Plan, bool) {
	if c == nil {
		return nil, false
	}
	for i := range c.Plans {
		if c.Plans[i].ID == id {
			return &c.Plans[i], true
		}
	}
	return nil, false
}

// Pack returns the pack with the given ID.
func (c *Catalog) Pack(id string) (*Pack, bool) {
	if c == nil {
		return nil, false
	}
	for i := range c.Packs {
		if c.Packs[i].ID == id {
			return &c.Packs[i], true
		}
	}
	return nil, false
}

// Validate checks the catalog: plan and pack IDs unique and non-empty,
// the default plan among the plans, gift and pack amounts positive,
// feature IDs unique and non-empty with prices above zero, and
// every policy that implements Validator valid. Errors wrap
// ErrInvalidCatalog and name the offending plan.
func (c *Catalog) Validate() error {
	if c == nil {
		return nil
	}
	seen := make(map[string]bool, len(c.Plans))
	for i, p := range c.Plans {
		if p.ID == "" {
			return fmt.Errorf("%w: plan %d has an empty ID", ErrInvalidCatalog, i)
		}
		if seen[p.ID] {
			return fmt.Errorf("%w: plan %q appears twice", ErrInvalidCatalog, p.ID)
		}
		seen[p.ID] = true
		for _, v := range []any{p.Allocation, p.Expiry} {
			if err := validate(v); err != nil {
				return fmt.Errorf("%w: plan %q: %w", ErrInvalidCatalog, p.ID, err)
			}
		}
		if err := validatePlanV03(&c.Plans[i]); err != nil {
			return fmt.Errorf("%w: plan %q: %w", ErrInvalidCatalog, p.ID, err)
		}
	}
	if err := c.validateEvents(); err != nil {
		return err
	}
	if c.DefaultPlan != "" && !seen[c.DefaultPlan] {
		return fmt.Errorf("%w: default plan %q is not among the plans", ErrInvalidCatalog, c.DefaultPlan)
	}
	if g := c.SignupGift; g != nil {
		if !g.Amount.IsPositive() {
			return fmt.Errorf("%w: signup gift amount %s is not positive", ErrInvalidCatalog, g.Amount)
		}
		if err := validate(g.Expiry); err != nil {
			return fmt.Errorf("%w: signup gift: %w", ErrInvalidCatalog, err)
		}
	}
	packs := make(map[string]bool, len(c.Packs))
	for i, p := range c.Packs {
		if p.ID == "" {
			return fmt.Errorf("%w: pack %d has an empty ID", ErrInvalidCatalog, i)
		}
		if packs[p.ID] {
			return fmt.Errorf("%w: pack %q appears twice", ErrInvalidCatalog, p.ID)
		}
		packs[p.ID] = true
		if !p.Amount.IsPositive() {
			return fmt.Errorf("%w: pack %q amount %s is not positive", ErrInvalidCatalog, p.ID, p.Amount)
		}
		if err := validate(p.Expiry); err != nil {
			return fmt.Errorf("%w: pack %q: %w", ErrInvalidCatalog, p.ID, err)
		}
	}
	return c.validateFeatures()
}

func validate(v any) error {
	if val, ok := v.(Validator); ok {
		return val.Validate()
	}
	return nil
}

// validateEvents checks the catalog's thresholds and notice.
func (c *Catalog) validateEvents() error {
	check := func(what string, m map[string]decimal.Decimal) error {
		for pool, v := range m {
			if v.IsNegative() {
				return fmt.Errorf("%w: %s low balance of pool %q is %s (want >= 0)", ErrInvalidCatalog, what, pool, v)
			}
		}
		return nil
	}
	if err := check("catalog", c.LowBalance); err != nil {
		return err
	}
	for _, p := range c.Plans {
		if err := check("plan "+strconvQuote(p.ID), p.LowBalance); err != nil {
			return err
		}
	}
	if c.ExpiringNotice != 0 && c.ExpiringNotice < time.Second {
		return fmt.Errorf("%w: expiring notice %s (want 0 or at least 1s)", ErrInvalidCatalog, c.ExpiringNotice)
	}
	return nil
}

// LowBalanceOf returns the balance.low threshold of plan (its own, else
// the catalog's) for pool, and false when none is set.
func (c *Catalog) LowBalanceOf(plan, pool string) (decimal.Decimal, bool) {
	if c == nil {
		return decimal.Decimal{}, false
	}
	if p, ok := c.Plan(plan); ok {
		if v, ok := p.LowBalance[pool]; ok {
			return v, true
		}
	}
	v, ok := c.LowBalance[pool]
	return v, ok
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }
