package ledger

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/storage"
)

// ConsumeParams are the parameters of Consume.
type ConsumeParams struct {
	// Account is the host's user id.
	Account string
	// IdempotencyKey is optional: empty means the call is not
	// deduplicated. With a key, a retry with the same parameters returns
	// the first receipt and spends nothing more. Keys are scoped per
	// account: the same key on another account is another call.
	IdempotencyKey string
	Description    string
	// Amount must be positive with at most Scale decimal places, unless
	// Feature is given.
	Amount   decimal.Decimal
	Metadata map[string]string

	// Pool is the credit pool to draw on ("" the default pool): only its
	// lots are spent, and the receipt's Balance is its available balance.
	Pool string
	// Feature and Quantity, instead of Amount, price the call from the
	// catalog (policy.Catalog.Features): Quantity (> 0) x the feature's
	// price, rounded up to the scale, from the feature's pool (Pool, if
	// given, must be that pool). The entries record them.
	Feature  string
	Quantity decimal.Decimal
}

// Consume spends credits from the account's unexpired lots in burn order
// (by default the soonest-expiring first) and returns the receipt with one
// entry per lot drawn on and the available balance after it.
//
// Lots that have expired are never spent, whether or not a sweep has
// written their expiry; Consume writes those expiries first, in the same
// transaction.
//
// With a Pool, or a Feature (priced in its pool), it draws on that pool's
// lots only.
//
// Errors: ErrInsufficientCredits when the pool's available balance is
// smaller than the amount (for an account that was never written to, the
// error also matches ErrNotFound); ErrInvalidAmount, ErrInvalidArgument
// and ErrIdempotencyConflict as for Grant; ErrUnknownFeature (which also
// matches ErrInvalidArgument) for a feature the catalog does not price;
// ErrInvalidArgument for an Amount together with a Feature, a Quantity
// <= 0 or without a Feature, or a Pool that is not the feature's. On any
// error nothing is written.
func (l *Ledger) Consume(ctx context.Context, p ConsumeParams) (rec *Receipt, err error) {
	ctx, call := l.tel.begin(ctx, opConsume)
	defer func() { call.end(ctx, rec != nil && rec.Replayed, err) }()
	if err := checkCall(p.Account, p.IdempotencyKey, p.Description, p.Metadata); err != nil {
		return nil, err
	}
	u, err := l.resolveUsage(p.Amount, p.Pool, p.Feature, p.Quantity)
	if err != nil {
		return nil, err
	}
	amount := u.amount
	return l.write(ctx, writeSpec{
		account:  p.Account,
		missing:  func() error { return errNoCredits(p.Account) },
		kind:     storage.KindConsume,
		key:      p.IdempotencyKey,
		hash:     hashPool(u.hash(p.Account).str(p.Description).meta(p.Metadata), u.pool).sum(),
		needLots: true,
		stage: func(w *accountWriter, opIdx int) error {
			if avail := w.availableIn(u.pool); avail < amount {
				if u.pool != "" {
					return fmt.Errorf("%w: account %q has %s available in %s, %s asked", ErrInsufficientCredits,
						p.Account, toDecimal(avail, l.scale), poolName(u.pool), toDecimal(amount, l.scale))
				}
				return fmt.Errorf("%w: account %q has %s available, %s asked", ErrInsufficientCredits,
					p.Account, toDecimal(avail, l.scale), toDecimal(amount, l.scale))
			}
			from := len(w.batch.Entries)
			if err := w.consume(opIdx, u.pool, amount, p.Description, p.Metadata); err != nil {
				return err
			}
			w.tagUsage(from, u)
			return nil
		},
	})
}
