package ledger

import (
	"context"
	"slices"
	"strings"
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

// buildBalance makes the Balance of an account at at from its open lots
// (remaining != 0, any pool; expired ones, closed ones and duplicates are
// left out here) and what its active holds hold per pool.
func (l *Ledger) buildBalance(account, plan string, at time.Time, lots []storage.Lot, held map[string]int64) *Balance {
	type acc struct {
		spendable, upcoming []*storage.Lot
		sum, debt, held     int64
	}
	pools := map[string]*acc{}
	get := func(p string) *acc {
		a := pools[p]
		if a == nil {
			a = &acc{}
			pools[p] = a
		}
		return a
	}
	seen := make(map[string]bool, len(lots))
	for i := range lots {
		lot := &lots[i]
		if seen[lot.ID] {
			continue
		}
		seen[lot.ID] = true
		// The store filters already; filtering again keeps the rule in
		// one place for stores that get it wrong.
		switch {
		case lot.Remaining < 0:
			get(lot.Pool).debt -= lot.Remaining
		case lot.Remaining == 0 || lot.Expired(at):
		case !lot.Effective(at):
			a := get(lot.Pool)
			a.upcoming = append(a.upcoming, lot)
		default:
			a := get(lot.Pool)
			a.spendable = append(a.spendable, lot)
			a.sum += lot.Remaining
		}
	}
	for p, n := range held {
		if n > 0 {
			get(p).held += n
		}
	}
	b := &Balance{Account: account, Plan: plan, At: at, Lots: []Lot{}}
	if len(pools) > 0 {
		b.Pools = make(map[string]PoolBalance, len(pools))
	}
	for p, a := range pools {
		l.sortLots(a.spendable)
		slices.SortStableFunc(a.upcoming, func(x, y *storage.Lot) int {
			if c := x.EffectiveAt.Compare(*y.EffectiveAt); c != 0 {
				return c
			}
			return strings.Compare(x.ID, y.ID)
		})
		pb := PoolBalance{
			Available: toDecimal(max(a.sum-a.debt, 0), l.scale),
			Owed:      toDecimal(max(a.debt-a.sum, 0), l.scale),
			Held:      toDecimal(a.held, l.scale),
			Lots:      make([]Lot, len(a.spendable)),
		}
		for i, lot := range a.spendable {
			pb.Lots[i] = l.lotOut(lot)
		}
		for _, lot := range a.upcoming {
			pb.Upcoming = append(pb.Upcoming, l.lotOut(lot))
		}
		b.Pools[p] = pb
	}
	if d, ok := b.Pools[""]; ok {
		b.Available, b.Held, b.Owed, b.Lots, b.Upcoming = d.Available, d.Held, d.Owed, d.Lots, d.Upcoming
	} else {
		b.Available, b.Held, b.Owed = toDecimal(0, l.scale), toDecimal(0, l.scale), toDecimal(0, l.scale)
	}
	return b
}
