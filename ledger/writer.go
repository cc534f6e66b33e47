package ledger

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// accountWriter stages the writes of one locked account into its own
// batch. Every rule about what an entry looks like, how the balance moves
// and which lot burns first lives here, once, for every store.
type accountWriter struct {
	l    *Ledger
	now  time.Time
	acct storage.Account // as staged so far
	// lots are the account's open lots (remaining > 0, expired or not),
	// loaded only when a write needs them: a consume, or a sweep because
	// NextExpiryAt is due. Without them the booked balance is the
	// available one, since no open lot can have expired.
	lots       []*storage.Lot
	lotsLoaded bool
	batch      storage.Batch
	changed    bool
	// ops are the calls staged so far; each one's first entry records it.
	ops []stagedOp
	// holds are the account's active holds (and any hold a write named),
	// loaded with the lots when a write needs them or a sweep is due.
	holds       []*storage.Hold
	holdsLoaded bool

	// ev is what the writer keeps to emit events (events.go).
	ev writerEvents
}

// stagedOp is a call being staged: its first entry (first >= 0 once
// written) carries its key, parameter hash and available balance.
type stagedOp struct {
	id    string
	kind  storage.EntryKind
	key   string
	hash  string
	first int // index in batch.Entries of its first entry; -1 before
}

func (l *Ledger) newWriter(acct storage.Account, lots []storage.Lot, loaded bool, now time.Time) *accountWriter {
	w := &accountWriter{l: l, now: now, acct: acct, lotsLoaded: loaded}
	w.ev.before = acct.Balance // the pool's balance as stored (events.go)
	for i := range lots {
		lot := lots[i]
		w.lots = append(w.lots, &lot)
	}
	return w
}

// expiryDue reports whether an account may hold an open lot that has
// expired at now and not been swept.
func expiryDue(a *storage.Account, now time.Time) bool {
	return a.NextExpiryAt != nil && !a.NextExpiryAt.After(now)
}

// op starts staging a call and returns its index in w.ops. The call is
// recorded on its first entry: there is no row per call.
func (w *accountWriter) op(kind storage.EntryKind, key, hash string) int {
	if key == "" {
		hash = "" // nothing will ever compare it
	}
	w.ops = append(w.ops, stagedOp{id: w.l.ids.New(w.now), kind: kind, key: key, hash: hash, first: -1})
	w.changed = true
	return len(w.ops) - 1
}

// setAvailable records on the call's first entry the available balance
// after it, which a replay returns. The first entry's hash is computed
// later, in seal, once every field is final.
func (w *accountWriter) setAvailable(opIdx int) {
	if i := w.ops[opIdx].first; i >= 0 {
		w.batch.Entries[i].Available = w.available()
	}
}

// opID returns the id of the call opIdx.
func (w *accountWriter) opID(opIdx int) string { return w.ops[opIdx].id }

// seal chains the staged entries' hashes onto the account's head, in Seq
// order, and moves the head.
func (w *accountWriter) seal() {
	for i := range w.batch.Entries {
		e := &w.batch.Entries[i]
		e.Hash = storage.EntryHash(w.acct.HeadHash, e)
		w.acct.HeadHash = e.Hash
	}
}

// entry stages one entry and moves the balance by its amount.
func (w *accountWriter) entry(opIdx int, lot *storage.Lot, kind storage.EntryKind, amount int64, description string, metadata map[string]string) error {
	bal, err := addMinor(w.acct.Balance, amount)
	if err != nil {
		return fmt.Errorf("account %q: %w", w.acct.ID, err)
	}
	w.acct.Balance = bal
	w.acct.Seq++
	e := storage.Entry{
		ID:           w.l.ids.New(w.now),
		Account:      w.acct.ID,
		Seq:          w.acct.Seq,
		OperationID:  w.ops[opIdx].id,
		LotID:        lot.ID,
		Kind:         kind,
		Amount:       amount,
		BalanceAfter: bal,
		Source:       lot.Source,
		Description:  description,
		Metadata:     metadata,
		CreatedAt:    w.now,
	}
	if kind == storage.KindGrant {
		e.ExpiresAt = lot.ExpiresAt
	}
	if op := &w.ops[opIdx]; op.first < 0 {
		op.first = len(w.batch.Entries)
		e.Key, e.ParamHash = op.key, op.hash
	}
	w.batch.Entries = append(w.batch.Entries, e)
	w.changed = true
	return nil
}

// planEntry stages the entry that records a plan change, as an operation
// of its own (with no key: a SetPlan with the same parameters changes
// nothing, so it writes no entry to replay): no lot, amount 0, the new
// plan as its source.
func (w *accountWriter) planEntry(change *planChange) error {
	opIdx := w.op(storage.KindPlan, "", "")
	err := w.entry(opIdx, &storage.Lot{Source: change.plan}, storage.KindPlan, 0, planDescription(change), map[string]string{
		storage.MetaPlanAnchor:   change.anchor.UTC().Format(time.RFC3339Nano),
		storage.MetaPreviousPlan: change.from,
	})
	if err != nil {
		return err
	}
	w.setAvailable(opIdx)
	return nil
}

func planDescription(c *planChange) string {
	switch {
	case c.from == "":
		return "plan " + c.plan
	case c.from == c.plan:
		return "plan " + c.plan + " anchored anew"
	}
	return "plan " + c.from + " -> " + c.plan
}

// debit lowers a loaded lot's remaining and stages the store's debit.
func (w *accountWriter) debit(lot *storage.Lot, amount int64) {
	lot.Remaining -= amount
	w.batch.Debits = append(w.batch.Debits, storage.LotDebit{Account: lot.Account, LotID: lot.ID, Amount: amount})
}

// sweep expires every loaded lot that is expired at now, as one expire
// operation, and returns how many lots and minor units it expired.
func (w *accountWriter) sweep() (lots int, minor int64, err error) {
	opIdx := -1
	// Expired holds first: what they give back to an expired lot is
	// expired below, in the same operation.
	if err := w.sweepHolds(&opIdx); err != nil {
		return 0, 0, err
	}
	for _, lot := range w.lots {
		if lot.Remaining == 0 || !lot.Expired(w.now) {
			continue
		}
		if opIdx < 0 {
			opIdx = w.op(storage.KindExpire, "", "")
		}
		amount := lot.Remaining
		if err := w.entry(opIdx, lot, storage.KindExpire, -amount, "expired", nil); err != nil {
			return 0, 0, err
		}
		w.debit(lot, amount)
		w.emit(EventCreditsExpired, opIdx, lot.Pool, lot.ID, amount)
		lots++
		minor += amount
	}
	if opIdx >= 0 {
		w.setAvailable(opIdx)
	}
	return lots, minor, nil
}

// grantSpec is a grant to stage.
type grantSpec struct {
	amount      int64
	source      string
	priority    int
	expiresAt   *time.Time
	description string
	metadata    map[string]string
}

// grant stages a new lot and its grant entry under operation opIdx.
func (w *accountWriter) grant(opIdx int, g grantSpec) (*storage.Lot, error) {
	lot := &storage.Lot{
		ID:          w.l.ids.New(w.now),
		Account:     w.acct.ID,
		OperationID: w.ops[opIdx].id,
		Source:      g.source,
		Amount:      g.amount,
		Remaining:   g.amount,
		Priority:    g.priority,
		ExpiresAt:   g.expiresAt,
		CreatedAt:   w.now,
	}
	if err := w.entry(opIdx, lot, storage.KindGrant, g.amount, g.description, g.metadata); err != nil {
		return nil, err
	}
	w.batch.Lots = append(w.batch.Lots, *lot)
	w.lots = append(w.lots, lot)
	w.emit(EventCreditsGranted, opIdx, lot.Pool, lot.ID, g.amount)
	if next := w.grantNextExpiry(g.expiresAt); next != nil && (w.acct.NextExpiryAt == nil || next.Before(*w.acct.NextExpiryAt)) {
		w.acct.NextExpiryAt = next
	}
	return lot, nil
}

// consume draws amount from the unexpired lots in burn order. The caller
// has checked that available() covers it.
func (w *accountWriter) consume(opIdx int, amount int64, description string, metadata map[string]string) error {
	open := make([]*storage.Lot, 0, len(w.lots))
	for _, lot := range w.lots {
		if lot.Remaining > 0 && !lot.Expired(w.now) {
			open = append(open, lot)
		}
	}
	w.l.sortLots(open)
	left := amount
	for _, lot := range open {
		if left == 0 {
			break
		}
		take := min(lot.Remaining, left)
		if err := w.entry(opIdx, lot, storage.KindConsume, -take, description, metadata); err != nil {
			return err
		}
		w.debit(lot, take)
		left -= take
	}
	if left != 0 {
		// available() said the lots cover the amount; reaching here means
		// a lot changed under the account lock, which must never happen.
		return fmt.Errorf("creditledger: account %q: lots short by %d minor units after the balance check", w.acct.ID, left)
	}
	return nil
}

// available returns the spendable balance at now.
func (w *accountWriter) available() int64 {
	if !w.lotsLoaded {
		return w.acct.Balance
	}
	var sum int64
	for _, lot := range w.lots {
		if !lot.Expired(w.now) {
			sum += lot.Remaining
		}
	}
	return sum
}

// finish stages the account update when anything changed, and returns
// the batch.
func (w *accountWriter) finish(plan *planChange) *storage.Batch {
	w.stageNotices()
	if plan != nil {
		w.changed = true
	}
	if !w.changed {
		return &w.batch
	}
	w.seal()
	if w.lotsLoaded {
		w.acct.NextExpiryAt = w.nextExpiry()
	}
	w.finishEvents(plan)
	u := storage.AccountUpdate{
		ID:           w.acct.ID,
		Balance:      w.acct.Balance,
		Seq:          w.acct.Seq,
		HeadHash:     w.acct.HeadHash,
		NextGrantAt:  w.acct.NextGrantAt,
		NextExpiryAt: w.acct.NextExpiryAt,
	}
	if plan != nil {
		u.SetPlan, u.Plan, u.Anchor = true, plan.plan, plan.anchor
	}
	w.batch.Accounts = append(w.batch.Accounts, u)
	return &w.batch
}

// planChange is a new plan and anchor for the account being written.
type planChange struct {
	plan   string
	anchor time.Time
	from   string // the plan before, "" for none
}

// sortLots sorts lots in the ledger's burn order.
func (l *Ledger) sortLots(lots []*storage.Lot) {
	sort.SliceStable(lots, func(i, j int) bool {
		return l.burn.Less(lotInfo(lots[i]), lotInfo(lots[j]))
	})
}

func lotInfo(l *storage.Lot) policy.LotInfo {
	return policy.LotInfo{ID: l.ID, Priority: l.Priority, ExpiresAt: l.ExpiresAt, CreatedAt: l.CreatedAt}
}

// merge appends other's writes to b.
func merge(b, other *storage.Batch) {
	b.Lots = append(b.Lots, other.Lots...)
	b.Entries = append(b.Entries, other.Entries...)
	b.Debits = append(b.Debits, other.Debits...)
	b.Accounts = append(b.Accounts, other.Accounts...)
	b.Credits = append(b.Credits, other.Credits...)
	b.Holds = append(b.Holds, other.Holds...)
	b.HoldUpdates = append(b.HoldUpdates, other.HoldUpdates...)
	b.Events = append(b.Events, other.Events...)
	b.Notices = append(b.Notices, other.Notices...)
}

// applyLast writes b, the last write of a transaction. A store may defer
// it to its COMMIT, and its errors then come back from Store.Tx, which
// every caller returns as they are.
func applyLast(ctx context.Context, tx storage.Tx, b *storage.Batch) error {
	return tx.Apply(ctx, b)
}
