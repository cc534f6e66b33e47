package ledger

import (
	"context"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// Balance returns the account's available credits now: the remaining of
// its lots that have not expired at this instant, whether or not a sweep
// has run, with those lots in burn order; and Held, what its active holds
// reserve. Those fields are the default pool's; Pools has every pool's,
// and a dated grant's lot is under Upcoming until its EffectiveAt (exact
// to the instant, with no sweep). A hold that has expired at this instant counts as released,
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
	acct, lots, held, err := l.readBalance(ctx, account, now)
	if err != nil {
		return nil, err
	}
	return l.buildBalance(account, acct.Plan, now, lots, held), nil
}

// balanceReads bounds how often readBalance reads without a lock because
// a write committed between its reads.
const balanceReads = 3

// readBalance reads the account with its open lots and, when it may have
// holds, its holds (and then maybe all its lots): separate reads, so a
// write committed between them could make them disagree (a hold taken in
// between would count its credits both in the lots and as held). Every
// write that changes lots or holds appends an entry, so when holds were
// read the account's Seq is read again, and the whole read repeated if it
// moved. When it moved every time, the last read is made under the
// account's lock (lockedBalance), so that even under constant churn
// Balance never shows credits that do not exist. Without holds in the
// store the first read stands alone (a hold ended between the reads can
// then only make this one answer lower, never higher).
func (l *Ledger) readBalance(ctx context.Context, account string, now time.Time) (*storage.Account, []storage.Lot, map[string]int64, error) {
	for attempt := 1; attempt <= balanceReads; attempt++ {
		acct, lots, err := l.store.AccountWithOpenLots(ctx, account, now)
		if err != nil {
			return nil, nil, nil, accountError(account, err)
		}
		lots, held, sawHolds, err := l.withHolds(ctx, acct, now, lots)
		if err != nil {
			return nil, nil, nil, err
		}
		if !sawHolds {
			return acct, lots, held, nil
		}
		again, err := l.store.Account(ctx, account)
		if err != nil {
			return nil, nil, nil, accountError(account, err)
		}
		if again.Seq == acct.Seq {
			return acct, lots, held, nil
		}
	}
	return l.lockedBalance(ctx, account, now)
}
