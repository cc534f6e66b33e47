package ledger

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
	// sealFrom is the index in batch.Entries of this writer's first
	// entry: a distribution chunk's writers stage one after another into
	// the chunk's one batch (see newWriterInto), and each seals only its
	// own account's entries. 0 for a writer with a batch of its own.
	sealFrom int
	// pools is each pool's booked balance as staged so far (the sum of
	// its lots' remaining): what an entry's BalanceAfter records; the
	// default pool's is defaultPool, so that a one-pool account's write
	// makes no map (see poolBalance). Without the lots loaded the account
	// must have had only the default pool (storage.Account.MultiPool
	// false), whose balance is then the account's.
	pools       map[string]int64
	defaultPool int64
	// multiPool is the account's MultiPool as loaded: such an account's
	// writes must have its lots.
	multiPool bool

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
	// pool is the pool of its first entry: the one whose available
	// balance the call records (and answers with).
	pool string
}

func (l *Ledger) newWriter(acct storage.Account, lots []storage.Lot, loaded bool, now time.Time) *accountWriter {
	w := &accountWriter{l: l, now: now, acct: acct, lotsLoaded: loaded, multiPool: acct.MultiPool}
	// A lot may be loaded twice (storage.Loaded.Lots): count it once,
	// looking back through a few lots, or a set of many.
	var seen map[string]bool
	if len(lots) > 16 {
		seen = make(map[string]bool, len(lots))
	}
	if len(lots) > 0 {
		// The writer moves its copies, never the caller's lots: one
		// allocation for the copies, one for the pointers (room for a
		// grant or two).
		cp := slices.Clone(lots)
		w.lots = make([]*storage.Lot, 0, len(cp)+2)
		for i := range cp {
			lot := &cp[i]
			w.lots = append(w.lots, lot)
			dup := false
			if seen != nil {
				dup = seen[lot.ID]
				seen[lot.ID] = true
			} else {
				dup = slices.ContainsFunc(lots[:i], func(o storage.Lot) bool { return o.ID == lot.ID })
			}
			if !dup {
				w.setPoolBalance(lot.Pool, w.poolBalance(lot.Pool)+lot.Remaining)
			}
		}
	}
	if !loaded {
		w.defaultPool = acct.Balance
	}
	// Each pool's balance as stored, less its lots not yet effective
	// (dated grants, never spendable before their instant), for the
	// balance events (events.go).
	w.ev.before, w.ev.beforePools = w.defaultPool, w.pools
	for _, lot := range w.lots {
		if lot.Remaining <= 0 || lot.Effective(now) {
			continue
		}
		if lot.Pool == "" {
			w.ev.before -= lot.Remaining
			continue
		}
		// A copy: w.pools is the writer's own (copied on write).
		m := maps.Clone(w.ev.beforePools)
		if m == nil {
			m = map[string]int64{}
		}
		m[lot.Pool] -= lot.Remaining
		w.ev.beforePools = m
	}
	return w
}

// newWriterInto is newWriter for a writer that stages onto the end of b,
// a batch other writers share (a distribution chunk's): it appends to b's
// slices, and the caller takes its writes over with *b = w.batch once it
// has finished (or leaves b as it was, which drops them: an account whose
// staging failed). Nothing is copied from one batch to another.
func (l *Ledger) newWriterInto(b *storage.Batch, acct storage.Account, lots []storage.Lot, loaded bool, now time.Time) *accountWriter {
	w := l.newWriter(acct, lots, loaded, now)
	w.batch = *b
	w.sealFrom = len(b.Entries)
	return w
}

// poolBalance is pool's booked balance as staged so far.
func (w *accountWriter) poolBalance(pool string) int64 {
	if pool == "" {
		return w.defaultPool
	}
	return w.pools[pool]
}

func (w *accountWriter) setPoolBalance(pool string, v int64) {
	if pool == "" {
		w.defaultPool = v
		return
	}
	// Copied on write: a copy of the writer (a group commit's mark, to
	// undo a call that fails) keeps the balances it saw.
	m := make(map[string]int64, len(w.pools)+1)
	maps.Copy(m, w.pools)
	m[pool] = v
	w.pools = m
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
		w.batch.Entries[i].Available = w.availableIn(w.ops[opIdx].pool)
	}
}

// opID returns the id of the call opIdx.
func (w *accountWriter) opID(opIdx int) string { return w.ops[opIdx].id }

// seal chains the staged entries' hashes onto the account's head, in Seq
// order, and moves the head.
func (w *accountWriter) seal() {
	for i := w.sealFrom; i < len(w.batch.Entries); i++ {
		e := &w.batch.Entries[i]
		e.Hash = storage.EntryHash(w.acct.HeadHash, e)
		w.acct.HeadHash = e.Hash
	}
}

// entry stages one entry on lot (of the lot's pool) and moves the
// account's and the pool's balance by its amount.
func (w *accountWriter) entry(opIdx int, lot *storage.Lot, kind storage.EntryKind, amount int64, description string, metadata map[string]string) error {
	if !w.lotsLoaded && w.multiPool {
		// The default pool's balance is not the account's: every write
		// of such an account loads its lots (lockForWrite, the chunks).
		return fmt.Errorf("creditledger: account %q has several pools but its lots were not loaded", w.acct.ID)
	}
	bal, err := addMinor(w.acct.Balance, amount)
	if err != nil {
		return fmt.Errorf("account %q: %w", w.acct.ID, err)
	}
	poolBal, err := addMinor(w.poolBalance(lot.Pool), amount)
	if err != nil {
		return fmt.Errorf("account %q pool %q: %w", w.acct.ID, lot.Pool, err)
	}
	w.acct.Balance = bal
	w.setPoolBalance(lot.Pool, poolBal)
	w.acct.Seq++
	e := storage.Entry{
		ID:           w.l.ids.New(w.now),
		Account:      w.acct.ID,
		Seq:          w.acct.Seq,
		OperationID:  w.ops[opIdx].id,
		LotID:        lot.ID,
		Kind:         kind,
		Amount:       amount,
		BalanceAfter: poolBal,
		Source:       lot.Source,
		Description:  description,
		Metadata:     metadata,
		CreatedAt:    w.now,
		Pool:         lot.Pool,
	}
	if kind == storage.KindGrant {
		e.ExpiresAt, e.EffectiveAt = lot.ExpiresAt, lot.EffectiveAt
	}
	if op := &w.ops[opIdx]; op.first < 0 {
		op.first = len(w.batch.Entries)
		op.pool = lot.Pool
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
		if w.l.refExpiries() {
			// A rollover finds what expired by the lot's grant (rollover.go).
			w.batch.Entries[len(w.batch.Entries)-1].Ref = lot.OperationID
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
	// pool is the lot's pool; effectiveAt, when after now, when it
	// becomes spendable (nil: at once).
	pool        string
	effectiveAt *time.Time
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
		Pool:        g.pool,
	}
	if g.effectiveAt != nil && g.effectiveAt.After(w.now) {
		lot.EffectiveAt = g.effectiveAt
	}
	if err := w.entry(opIdx, lot, storage.KindGrant, g.amount, g.description, g.metadata); err != nil {
		return nil, err
	}
	if lot.Pool != "" || lot.EffectiveAt != nil {
		// From now on the account's balance is not its default pool's
		// spendable balance: its writes load its lots.
		w.acct.MultiPool = true
	}
	w.batch.Lots = append(w.batch.Lots, *lot)
	w.lots = append(w.lots, lot)
	w.emit(EventCreditsGranted, opIdx, lot.Pool, lot.ID, g.amount)
	if next := w.grantNextExpiry(g.expiresAt); next != nil && (w.acct.NextExpiryAt == nil || next.Before(*w.acct.NextExpiryAt)) {
		w.acct.NextExpiryAt = next
	}
	// A pool that owes is paid first, from the new lot (overdraft.go).
	if err := w.settle(opIdx, g.pool, lot); err != nil {
		return nil, err
	}
	return lot, nil
}

// spendable reports whether lot can be drawn on at now in pool: of that
// pool, with credits left, effective and not expired.
func spendable(lot *storage.Lot, pool string, now time.Time) bool {
	return lot.Pool == pool && lot.Remaining > 0 && !lot.Expired(now) && lot.Effective(now)
}

// spendableLots returns the lots of pool that can be drawn on at now, in
// burn order.
func (w *accountWriter) spendableLots(pool string) []*storage.Lot {
	open := make([]*storage.Lot, 0, len(w.lots))
	for _, lot := range w.lots {
		if spendable(lot, pool, w.now) {
			open = append(open, lot)
		}
	}
	w.l.sortLots(open)
	return open
}

// consume draws amount from the spendable lots of pool in burn order.
// The caller has checked that availableIn(pool) covers it.
func (w *accountWriter) consume(opIdx int, pool string, amount int64, description string, metadata map[string]string) error {
	open := w.spendableLots(pool)
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
		// Past what the lots hold: the plan's overdraft (overdraft.go),
		// which checkSpend allowed; without one, reaching here means a
		// lot changed under the account lock, which must never happen.
		if w.overdraftLimit(pool) > 0 {
			_, err := w.overdraw(opIdx, pool, left, description, metadata)
			return err
		}
		return fmt.Errorf("creditledger: account %q: lots short by %d minor units after the balance check", w.acct.ID, left)
	}
	return nil
}

// available returns the default pool's available balance at now.
func (w *accountWriter) available() int64 { return w.availableIn("") }

// availableIn returns pool's available balance at now: the remaining of
// its spendable lots less what it owes (its debt lots), at least 0.
func (w *accountWriter) availableIn(pool string) int64 {
	var sum int64
	if !w.lotsLoaded {
		// Every lot but those this write staged is in the default pool,
		// effective, and not expired (no expiry is due): the pool's
		// booked balance, less what staged lots cannot spend yet.
		sum = w.poolBalance(pool)
		for _, lot := range w.lots {
			if lot.Pool == pool && lot.Remaining > 0 && !spendable(lot, pool, w.now) {
				sum -= lot.Remaining
			}
		}
	} else {
		for _, lot := range w.lots {
			if spendable(lot, pool, w.now) || (lot.Pool == pool && lot.Remaining < 0) {
				sum += lot.Remaining
			}
		}
	}
	return max(sum, 0)
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
		MultiPool:    w.acct.MultiPool,
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
	b.LotExpiries = append(b.LotExpiries, other.LotExpiries...)
	b.Events = append(b.Events, other.Events...)
	b.Notices = append(b.Notices, other.Notices...)
}

// applyLast writes b, the last write of a transaction. A store may defer
// it to its COMMIT, and its errors then come back from Store.Tx, which
// every caller returns as they are.
func applyLast(ctx context.Context, tx storage.Tx, b *storage.Batch) error {
	return tx.Apply(ctx, b)
}
