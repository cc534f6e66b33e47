package ledger

import (
	"context"

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
	// Amount must be positive with at most Scale decimal places.
	Amount   decimal.Decimal
	Metadata map[string]string
}

// Consume spends credits from the account's unexpired lots in burn order
// (by default the soonest-expiring first) and returns the receipt with one
// entry per lot drawn on and the available balance after it.
//
// Lots that have expired are never spent, whether or not a sweep has
// written their expiry; Consume writes those expiries first, in the same
// transaction.
//
// When the account's current plan lets the pool overdraw
// (policy.Plan.Overdraft), a consume past what is available succeeds down
// to exactly minus the limit: the rest is owed (Balance.Owed), and the
// next credits granted into the pool pay it first (see overdraft.go).
//
// Errors: ErrInsufficientCredits when the available balance (plus the
// overdraft left) is smaller than the amount (for an account that was
// never written to, the error also matches ErrNotFound); ErrInvalidAmount, ErrInvalidArgument and
// ErrIdempotencyConflict as for Grant. On any error nothing is written.
func (l *Ledger) Consume(ctx context.Context, p ConsumeParams) (rec *Receipt, err error) {
	ctx, call := l.tel.begin(ctx, opConsume)
	defer func() { call.end(ctx, rec != nil && rec.Replayed, err) }()
	if err := checkCall(p.Account, p.IdempotencyKey, p.Description, p.Metadata); err != nil {
		return nil, err
	}
	amount, err := toMinor(p.Amount, l.scale, true)
	if err != nil {
		return nil, err
	}
	return l.write(ctx, writeSpec{
		account:  p.Account,
		missing:  func() error { return errNoCredits(p.Account) },
		kind:     storage.KindConsume,
		key:      p.IdempotencyKey,
		hash:     new(paramHash).str(p.Account).int(amount).str(p.Description).meta(p.Metadata).sum(),
		needLots: true,
		stage: func(w *accountWriter, opIdx int) error {
			if err := w.checkSpend("", amount, p.Amount.String()); err != nil {
				return err
			}
			return w.consume(opIdx, amount, p.Description, p.Metadata)
		},
	})
}
