package policy

import "strings"

// DefaultBurnOrder returns the burn order the ledger uses unless configured
// otherwise: priority ascending (lower burns first); then the soonest
// expiry first, never-expiring lots last, so credits about to be lost are
// used before they are; then the oldest lot first; then ID ascending, so
// that the order is total and every store burns the same lots. Expiry and
// creation times compare as instants, whatever their zones.
func DefaultBurnOrder() BurnOrder { return defaultBurnOrder{} }

type defaultBurnOrder struct{}

// Less implements BurnOrder.
func (defaultBurnOrder) Less(a, b LotInfo) bool {
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	switch {
	case a.ExpiresAt == nil && b.ExpiresAt != nil:
		return false // never burns after any expiry
	case a.ExpiresAt != nil && b.ExpiresAt == nil:
		return true
	case a.ExpiresAt != nil && b.ExpiresAt != nil && !a.ExpiresAt.Equal(*b.ExpiresAt):
		return a.ExpiresAt.Before(*b.ExpiresAt)
	}
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return strings.Compare(a.ID, b.ID) < 0
}

// BurnOrderFunc adapts a function to BurnOrder, for custom orders:
//
//	policy.BurnOrderFunc(func(a, b policy.LotInfo) bool { ... })
//
// Like every BurnOrder it must be a strict total order (break ties by ID).
type BurnOrderFunc func(a, b LotInfo) bool

// Less implements BurnOrder by calling f.
func (f BurnOrderFunc) Less(a, b LotInfo) bool { return f(a, b) }
