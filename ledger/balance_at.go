package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// withHolds reads the account's holds recorded as active and returns the
// open lots with the credits of those that have expired at now given
// back (as the next write will record), and what the others hold.
func (l *Ledger) withHolds(ctx context.Context, acct *storage.Account, now time.Time, lots []storage.Lot) (_ []storage.Lot, held map[string]int64, sawHolds bool, _ error) {
	if acct.NextExpiryAt == nil {
		// The next expiry time is at or before every active hold's
		// expiry (Verify checks it): without one there is no hold.
		return lots, nil, false, nil
	}
	account := acct.ID
	hs, err := l.store.Holds(ctx, storage.HoldQuery{Account: account, OnlyActive: true})
	if err != nil {
		return nil, nil, false, fmt.Errorf("creditledger: holds of account %q: %w", account, err)
	}
	held, back := settleHolds(hs, now)
	if len(back) == 0 {
		return lots, held, len(hs) > 0, nil
	}
	// A lot whose credits are all held is not among the open lots: read
	// them all (this happens only between a hold's expiry and the next
	// write of the account).
	all, err := l.store.Lots(ctx, storage.LotQuery{Account: account})
	if err != nil {
		return nil, nil, false, fmt.Errorf("creditledger: read lots of account %q: %w", account, err)
	}
	return openLots(all, back, now), held, true, nil
}

// settleHolds splits the holds recorded as active at now: what those still
// active hold, per pool, and per lot what those that have expired give
// back.
func settleHolds(hs []storage.Hold, now time.Time) (held map[string]int64, back map[string]int64) {
	back = map[string]int64{}
	held = map[string]int64{}
	for _, h := range hs {
		if h.Active(now) {
			held[h.Pool] += h.Amount
			continue
		}
		for _, ln := range h.Lines {
			back[ln.LotID] += ln.Amount
		}
	}
	return held, back
}

// openLots returns the lots (each once) that are open at now once back
// is given back to them.
func openLots(lots []storage.Lot, back map[string]int64, now time.Time) []storage.Lot {
	out := lots[:0:0]
	seen := make(map[string]bool, len(lots))
	for _, lot := range lots {
		if seen[lot.ID] {
			continue
		}
		seen[lot.ID] = true
		lot.Remaining += back[lot.ID]
		if lot.Remaining < 0 || (lot.Remaining > 0 && !lot.Expired(now)) {
			out = append(out, lot) // open debt lots too
		}
	}
	return out
}

// lockedBalance is readBalance's last resort under churn: it reads the
// account, its open lots and its holds under the account's lock, which
// every write takes, so that they agree. It costs a write transaction.
func (l *Ledger) lockedBalance(ctx context.Context, account string, now time.Time) (acct *storage.Account, lots []storage.Lot, held map[string]int64, err error) {
	err = l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, loaded, err := tx.LockAndLoad(ctx, []string{account}, false, now,
			storage.LoadQuery{LotsOf: []string{account}, HoldsOf: []string{account}})
		if err != nil {
			return err
		}
		if len(accts) == 0 {
			return accountError(account, storage.ErrNotFound)
		}
		var back map[string]int64
		held, back = settleHolds(loaded.Holds, now)
		all := loaded.Lots
		if len(back) > 0 {
			// Lots that expired holds give back to may be empty now,
			// and so not among the open lots.
			q := storage.LoadQuery{}
			for id := range back {
				q.Lots = append(q.Lots, storage.AccountID{Account: account, ID: id})
			}
			more, err := tx.Load(ctx, q)
			if err != nil {
				return err
			}
			all = append(all, more.Lots...)
		}
		acct, lots = &accts[0], openLots(all, back, now)
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil, err
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creditledger: balance of account %q under its lock: %w", account, err)
	}
	return acct, lots, held, nil
}

// entryPage is how many entries BalanceAt reads at a time.
const entryPage = 1000

// BalanceAt returns what Balance would have returned at the instant at:
// the lots as they were then (their remaining from the entries written up
// to at, their expiry against at), Held by the holds active at at, and
// the credits of holds that had expired by at given back, and Plan the
// plan the account was on at at (from its KindPlan entries; an account
// whose plan was set before plan changes were recorded is taken to have
// been on its plan all along). It reads the account's whole history: it
// costs what Entries costs for every entry. The instant is cut to the
// microsecond, the precision stores keep.
//
// Before the account's first entry the balance is zero with no lots.
//
// Errors: ErrInvalidArgument for an instant after now or a malformed
// account id; ErrNotFound for an account that was never written to.
func (l *Ledger) BalanceAt(ctx context.Context, account string, at time.Time) (_ *Balance, err error) {
	ctx, call := l.tel.begin(ctx, opBalanceAt)
	defer func() { call.end(ctx, false, err) }()
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	// Stores keep microseconds and the ledger's now is cut to them: cut
	// at the same way before comparing, so that an instant read from
	// time.Now (nanoseconds) just before the call is never "after now".
	// Nothing a store holds tells apart two instants of one microsecond.
	at = normTime(at)
	now := l.clock()
	if at.After(now) {
		return nil, fmt.Errorf("%w: BalanceAt %s is after now (%s)", ErrInvalidArgument,
			at.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	acct, err := l.store.Account(ctx, account)
	if err != nil {
		return nil, accountError(account, err)
	}
	lots, err := l.store.Lots(ctx, storage.LotQuery{Account: account})
	if err != nil {
		return nil, fmt.Errorf("creditledger: read lots of account %q: %w", account, err)
	}
	var history []storage.Entry
	for before := int64(0); ; {
		page, err := l.store.Entries(ctx, storage.EntryQuery{Account: account, BeforeSeq: before, Limit: entryPage})
		if err != nil {
			return nil, fmt.Errorf("creditledger: read entries of account %q: %w", account, err)
		}
		history = append(history, page...)
		if len(page) < entryPage {
			break
		}
		before = page[len(page)-1].Seq
	}
	return l.replayBalance(acct, lots, history, at), nil
}

// replayBalance computes the balance at at from the entries (any order):
// those created after at are ignored.
func (l *Ledger) replayBalance(acct *storage.Account, lots []storage.Lot, history []storage.Entry, at time.Time) *Balance {
	remaining := map[string]int64{}
	// expiry is each lot's expiry as its last grant or set_expiry entry
	// up to at set it (by Seq: history comes in any order).
	type expiry struct {
		seq int64
		at  *time.Time
	}
	expiries := map[string]expiry{}
	type hold struct {
		expiresAt time.Time
		amount    int64
		lines     map[string]int64
		ended     bool
		pool      string
	}
	holds := map[string]*hold{}
	var ends []string
	for i := range history {
		e := &history[i]
		if e.CreatedAt.After(at) {
			continue
		}
		if e.LotID != "" {
			remaining[e.LotID] += e.Amount
		}
		if e.Kind == storage.KindGrant || e.Kind == storage.KindSetExpiry {
			if x, ok := expiries[e.LotID]; !ok || e.Seq > x.seq {
				expiries[e.LotID] = expiry{seq: e.Seq, at: e.ExpiresAt}
			}
		}
		switch e.Kind {
		case storage.KindHold:
			h := holds[e.OperationID]
			if h == nil {
				h = &hold{lines: map[string]int64{}}
				holds[e.OperationID] = h
			}
			if e.ExpiresAt != nil {
				h.expiresAt = *e.ExpiresAt
			}
			h.amount -= e.Amount
			h.lines[e.LotID] -= e.Amount
			h.pool = e.Pool
		case storage.KindRelease, storage.KindCapture:
			ends = append(ends, e.Ref)
		}
	}
	for _, id := range ends {
		if h := holds[id]; h != nil {
			h.ended = true
		}
	}
	held := map[string]int64{}
	for _, h := range holds {
		if h.ended {
			continue
		}
		if h.expiresAt.After(at) {
			held[h.pool] += h.amount
			continue
		}
		for lot, n := range h.lines {
			remaining[lot] += n // expired, not yet recorded: back in its lot
		}
	}
	open := make([]storage.Lot, 0, len(lots))
	for i := range lots {
		lot := lots[i]
		if lot.CreatedAt.After(at) {
			continue
		}
		lot.Remaining = remaining[lot.ID]
		if x, ok := expiries[lot.ID]; ok {
			// SetLotExpiry may have changed it since.
			lot.ExpiresAt = x.at
		}
		open = append(open, lot)
	}
	return l.buildBalance(acct.ID, planAt(acct, history, at), at, open, held)
}

// planAt returns the account's plan at at from its plan entries (any
// order): the plan the last one up to at set; before the first one, the
// plan that one replaced. An account without plan entries (its plan was
// set by a version that did not record changes) is taken to have been on
// its plan all along.
func planAt(acct *storage.Account, history []storage.Entry, at time.Time) string {
	var last, first *storage.Entry
	for i := range history {
		e := &history[i]
		if e.Kind != storage.KindPlan {
			continue
		}
		if first == nil || e.Seq < first.Seq {
			first = e
		}
		if !e.CreatedAt.After(at) && (last == nil || e.Seq > last.Seq) {
			last = e
		}
	}
	switch {
	case last != nil:
		return last.Source
	case first != nil:
		return first.Metadata[storage.MetaPreviousPlan]
	}
	return acct.Plan
}
