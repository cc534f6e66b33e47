package ledger

import (
	"context"

	"github.com/creditledger/creditledger/storage"
)

// Balance returns the account's available credits now: the remaining of
// its lots that have not expired at this instant, whether or not a sweep
// has run, with those lots in burn order; and Held, what its active holds
// reserve. A hold that has expired at this instant counts as released,
// whether or not a write has recorded it: its credits are back in their
// lots (and available if those lots have not expired).
//
// Errors: ErrNotFound for an account that was never written to;
// ErrInvalidArgument for a malformed account id.
func (l *Ledger) Balance(ctx context.Context, account string) (_ *Balance, err error) {
	ctx, call := l.tel.begin(ctx, opBalance)
	defer func() { call.end(ctx, false, err) }()
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	now := l.clock()
	acct, lots, err := l.store.AccountWithOpenLots(ctx, account, now)
	if err != nil {
		return nil, err
	}
	lots, held, err := l.withHolds(ctx, acct, now, lots)
	if err != nil {
		return nil, err
	}
	ptrs := make([]*storage.Lot, 0, len(lots))
	for i := range lots {
		// The store filters already; filtering again keeps the rule in one
		// place for stores that get it wrong.
		if lots[i].Remaining > 0 && !lots[i].Expired(now) {
			ptrs = append(ptrs, &lots[i])
		}
	}
	l.sortLots(ptrs)
	b := &Balance{Account: account, Plan: acct.Plan, At: now, Lots: make([]Lot, len(ptrs))}
	var sum int64
	for i, lot := range ptrs {
		b.Lots[i] = l.lotOut(lot)
		sum += lot.Remaining
	}
	b.Available = toDecimal(sum, l.scale)
	b.Held = toDecimal(held, l.scale)
	return b, nil
}
