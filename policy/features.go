package policy

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Feature prices one unit of a feature in credits of a pool (Autumn's
// "credit systems"): an image costs 10 "image" credits, a chat message 1
// of the default pool. Ledger.Consume and Ledger.Hold with a Feature and
// a Quantity charge Quantity x Price, rounded up to the ledger's scale (a
// price may be finer than the scale: 2.5 credits a unit at scale 0, 3
// units cost 8), from the feature's pool.
type Feature struct {
	ID    string
	Pool  string          // "" is the default pool
	Price decimal.Decimal // credits of Pool per unit; must be above zero
}

// Feature returns the feature with that ID, or false. A nil catalog has
// none.
func (c *Catalog) Feature(id string) (*Feature, bool) {
	if c == nil {
		return nil, false
	}
	for i := range c.Features {
		if c.Features[i].ID == id {
			return &c.Features[i], true
		}
	}
	return nil, false
}

// validateFeatures checks that feature IDs are non-empty and unique and
// that every price is above zero.
func (c *Catalog) validateFeatures() error {
	seen := make(map[string]bool, len(c.Features))
	for i, f := range c.Features {
		if f.ID == "" {
			return fmt.Errorf("%w: feature %d has an empty ID", ErrInvalidCatalog, i)
		}
		if seen[f.ID] {
			return fmt.Errorf("%w: feature %q appears twice", ErrInvalidCatalog, f.ID)
		}
		seen[f.ID] = true
		if !f.Price.IsPositive() {
			return fmt.Errorf("%w: feature %q price %s is not above zero", ErrInvalidCatalog, f.ID, f.Price)
		}
	}
	return nil
}

// featureJSON is a feature in a JSON catalog: {"id", "pool", "price"}.
type featureJSON struct {
	ID    string          `json:"id"`
	Pool  string          `json:"pool,omitempty"`
	Price decimal.Decimal `json:"price"`
}
