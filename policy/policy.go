package policy

import (
	"time"

	"github.com/shopspring/decimal"
)

// Account is what a policy sees of an account.
type Account struct {
	ID        string
	Plan      string
	Anchor    time.Time // when the plan started; anniversary periods count from it
	CreatedAt time.Time
}

// Period is one allocation period, the half-open interval [Start, End).
type Period struct {
	Start, End time.Time
	// Key names the period in idempotency keys: "2026-11" for a calendar
	// month, "2026-11-26" (the start date in the catalog's zone) for an
	// anniversary month. It depends only on the period, never on when the
	// grant was made.
	Key string
}

// IsZero reports whether p is the zero Period (a grant made for no
// period, such as a gift or a pack).
func (p Period) IsZero() bool { return p.Start.IsZero() && p.End.IsZero() && p.Key == "" }

// Due is a grant an allocation owes for one period.
type Due struct {
	Period Period
	Amount decimal.Decimal
	Source string
	// Grants, when not empty, are the period's grants one per pool
	// (InPools), and Amount is their sum; empty: one grant of Amount into
	// the default pool.
	Grants []PoolAmount
}

// Allocation decides what the distribution grants an account, and when.
// Implementations are pure: no I/O, the time passed in.
type Allocation interface {
	// Allocate returns the grant owed for the period that contains t in
	// loc, and false when this allocation grants nothing on a schedule
	// (see None).
	Allocate(a Account, t time.Time, loc *time.Location) (Due, bool)
}

// Expiry decides when a grant expires.
type Expiry interface {
	// ExpiresAt returns when a grant made at granted for period p expires,
	// or nil for never. p is the zero Period for grants made for no period
	// (gifts, packs).
	ExpiresAt(granted time.Time, p Period) *time.Time
}

// Validator is implemented by policies whose parameters can be wrong (a
// negative number of days, say). Catalog.Validate calls it.
type Validator interface {
	Validate() error
}

// LotInfo is what a burn order sees of a lot.
type LotInfo struct {
	ID        string
	Priority  int
	ExpiresAt *time.Time // nil: never
	CreatedAt time.Time
}

// BurnOrder decides which lots a consume draws from first.
type BurnOrder interface {
	// Less reports whether lot a burns before lot b. It must be a strict
	// total order (ties broken by ID) so that every store burns alike.
	Less(a, b LotInfo) bool
}
