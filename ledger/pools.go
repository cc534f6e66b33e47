package ledger

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/policy"
)

// ErrUnknownFeature: a Consume or Hold names a feature the catalog does
// not price (policy.Catalog.Features). Nothing was written. It also
// matches ErrInvalidArgument.
var ErrUnknownFeature error = &multiError{msg: "creditledger: unknown feature", errs: []error{ErrInvalidArgument}}

// MaxQuantityLength bounds the decimal text of a feature quantity, as
// recorded on its entries.
const MaxQuantityLength = 64

// usage is what a Consume or Hold draws: an amount of one pool, and the
// feature and quantity it was priced from ("" when given as an amount).
type usage struct {
	amount   int64
	pool     string
	feature  string
	quantity string // canonical decimal text
}

// checkPool checks a pool name: "" (the default pool) or text of at most
// MaxIDLength bytes.
func checkPool(pool string) error {
	return checkBounded("pool", pool, MaxIDLength)
}

// resolveUsage checks how a Consume or Hold is priced: an Amount (in
// pool), or a Feature and a Quantity, charged Quantity x the feature's
// price rounded up to the scale from the feature's pool. Exactly one of
// the two ways: an Amount with a Feature, a Quantity without one, a
// Quantity <= 0 or a Pool other than the feature's is ErrInvalidArgument;
// an unknown feature ErrUnknownFeature.
func (l *Ledger) resolveUsage(amount decimal.Decimal, pool, feature string, quantity decimal.Decimal) (usage, error) {
	if err := checkPool(pool); err != nil {
		return usage{}, err
	}
	if feature == "" {
		if !quantity.IsZero() {
			return usage{}, fmt.Errorf("%w: Quantity %s without a Feature", ErrInvalidArgument, quantity)
		}
		minor, err := toMinor(amount, l.scale, true)
		if err != nil {
			return usage{}, err
		}
		return usage{amount: minor, pool: pool}, nil
	}
	if !amount.IsZero() {
		return usage{}, fmt.Errorf("%w: Amount %s together with Feature %q (give one of the two)", ErrInvalidArgument, amount, feature)
	}
	if err := checkBounded("feature", feature, MaxIDLength); err != nil {
		return usage{}, err
	}
	if !quantity.IsPositive() {
		return usage{}, fmt.Errorf("%w: Quantity %s of feature %q is not above zero", ErrInvalidArgument, quantity, feature)
	}
	var f *policy.Feature
	var ok bool
	if l.catalog != nil {
		f, ok = l.catalog.Feature(feature)
	}
	if !ok {
		return usage{}, fmt.Errorf("%w %q: not in the catalog", ErrUnknownFeature, feature)
	}
	if pool != "" && pool != f.Pool {
		return usage{}, fmt.Errorf("%w: Pool %q is not the pool %q of feature %q", ErrInvalidArgument, pool, f.Pool, feature)
	}
	q := quantity.String()
	if len(q) > MaxQuantityLength {
		return usage{}, fmt.Errorf("%w: Quantity of feature %q is %d characters, more than %d", ErrInvalidArgument, feature, len(q), MaxQuantityLength)
	}
	// Never undercharge: a price finer than the scale rounds up.
	cost := quantity.Mul(f.Price).RoundCeil(l.scale)
	minor, err := toMinor(cost, l.scale, true)
	if err != nil {
		return usage{}, fmt.Errorf("feature %q x %s: %w", feature, q, err)
	}
	return usage{amount: minor, pool: f.Pool, feature: feature, quantity: q}, nil
}

// hash adds the usage to a call's parameter hash: the amount as v0.2
// hashed it, or the feature and quantity (not the amount they cost, so
// that a retry after a price change still replays); the pool only when
// not the default one, so that a call that never names a pool hashes as
// before pools.
func (u usage) hash(account string) *paramHash {
	h := new(paramHash).str(account)
	if u.feature != "" {
		h.str("feature").str(u.feature).str(u.quantity)
	} else {
		h.int(u.amount)
	}
	return h
}

// hashPool appends the pool to h when it is not the default one.
func hashPool(h *paramHash, pool string) *paramHash {
	if pool != "" {
		h.str("pool").str(pool)
	}
	return h
}

// tagUsage records the feature and quantity on the entries staged from
// index from on (a consume's or hold's).
func (w *accountWriter) tagUsage(from int, u usage) {
	if u.feature == "" {
		return
	}
	for i := from; i < len(w.batch.Entries); i++ {
		w.batch.Entries[i].Feature, w.batch.Entries[i].Quantity = u.feature, u.quantity
	}
}

// checkCatalogPools checks the pools the catalog names (the gift's, the
// packs', the features') as checkPool does.
func checkCatalogPools(c *policy.Catalog) error {
	if g := c.SignupGift; g != nil {
		if err := checkPool(g.Pool); err != nil {
			return fmt.Errorf("creditledger: signup gift: %w", err)
		}
	}
	for _, p := range c.Packs {
		if err := checkPool(p.Pool); err != nil {
			return fmt.Errorf("creditledger: pack %q: %w", p.ID, err)
		}
	}
	for _, f := range c.Features {
		if err := checkPool(f.Pool); err != nil {
			return fmt.Errorf("creditledger: feature %q: %w", f.ID, err)
		}
		if err := checkBounded("feature id", f.ID, MaxIDLength); err != nil {
			return fmt.Errorf("creditledger: feature %q: %w", f.ID, err)
		}
	}
	return nil
}

// poolName is how errors name a pool.
func poolName(pool string) string {
	if pool == "" {
		return "the default pool"
	}
	return fmt.Sprintf("pool %q", pool)
}
