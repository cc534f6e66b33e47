package ledger

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/storage"
)

// The types of events (Event.Type). Every write that causes one appends
// it to the outbox in the write's own transaction: an event exists if and
// only if its write committed, and a replayed call writes none.
const (
	// EventBalanceLow: a pool's available balance fell to or below its
	// threshold (Plan.LowBalance, else Catalog.LowBalance; none set: never):
	// the balance before the write was above it and is at or below it
	// after. It fires once per crossing, and again only after a write has
	// left the balance above the threshold. "Before" is the balance as
	// stored, counting lots that had expired but were not swept yet, so
	// that a write whose sweep expires them reports the crossing. Amount
	// is what the write took from the pool.
	EventBalanceLow = "balance.low"
	// EventBalanceDepleted: a pool's available balance reached zero from
	// above. Amount is what the write took.
	EventBalanceDepleted = "balance.depleted"
	// EventBalanceOverdrawn: a pool's balance went below zero under an
	// overdraft (Plan.Overdraft, when it lands). Amount is the debt.
	EventBalanceOverdrawn = "balance.overdrawn"
	// EventCreditsGranted: a lot was granted (Grant, GrantPack, SetPlan,
	// Distribute, the signup gift). Amount is the lot's amount.
	EventCreditsGranted = "credits.granted"
	// EventCreditsExpired: what remained of a lot expired (a write's
	// sweep, Distribute, ExpireDue). Amount is what expired.
	EventCreditsExpired = "credits.expired"
	// EventCreditsExpiring: a lot expires within Catalog.ExpiringNotice;
	// once per lot. Amount is what remains of it; the lot's expiry is in
	// its history (Entries).
	EventCreditsExpiring = "credits.expiring"
	// EventCreditsReversed: Reverse moved credits. Amount is how many
	// (taken back from a grant, or given back for a consume or capture).
	EventCreditsReversed = "credits.reversed"
	// EventHoldExpired: a hold expired and gave its credits back (a
	// write's sweep, Distribute, ExpireDue). Amount is what it gave back.
	EventHoldExpired = "hold.expired"
)

// Event is one event of the outbox (see ClaimEvents).
type Event struct {
	// ID names the event, unique across the ledger: use it as the
	// idempotency key of what the event makes the host do.
	ID, Account, Pool, Type, OperationID string
	// Amount is what moved (>= 0; see each type); Balance the pool's
	// available balance after the write.
	Amount, Balance decimal.Decimal
	LotID           string // for credits.* events; "" otherwise
	At              time.Time

	// Seq orders an account's events: a later event of the account has
	// a greater Seq. It is assigned by the store.
	Seq int64
	// Delivery state: Attempts is how often a claim handed the event
	// out; LeasedUntil when its current lease ends; AckedAt when it was
	// acknowledged (nil: not yet).
	Attempts    int
	LeasedUntil *time.Time
	AckedAt     *time.Time
}

// writerEvents is what an accountWriter keeps to emit events: the pool
// balance as stored when the writer started, the events staged so far,
// and which of its lots have had their credits.expiring notice.
type writerEvents struct {
	// before and beforePools are the default pool's and the other
	// pools' booked balances as stored when the writer started (the sum
	// of their lots' remaining, expired or not).
	before      int64
	beforePools map[string]int64
	staged      []storage.Event
	noticed     map[string]bool
	// checked are the stored lots whose notices were read: only those
	// (and the write's own lots) can be noticed.
	checked map[string]bool
	// owedBefore, owedAfter per pool feed balance.overdrawn (see
	// noteOwed).
	owed map[string][2]int64
}

// emit stages an event of the account, caused by the call opIdx (-1:
// none, a notice found by a write that wrote nothing else); its Balance
// is filled in when the writer finishes.
func (w *accountWriter) emit(typ string, opIdx int, pool, lotID string, amount int64) {
	if w.l.noEvents {
		return
	}
	opID := ""
	if opIdx >= 0 {
		opID = w.ops[opIdx].id
	}
	w.ev.staged = append(w.ev.staged, storage.Event{
		ID:          w.l.ids.New(w.now),
		Account:     w.acct.ID,
		Pool:        pool,
		Type:        typ,
		OperationID: opID,
		LotID:       lotID,
		Amount:      amount,
		At:          w.now,
	})
	w.changed = true
}

// noteOwed is the hook of overdraft (balance.overdrawn): the code that
// lets a pool's balance go below zero calls it with what the pool owed
// before and after the write; finish emits balance.overdrawn when the
// pool went from owing nothing to owing something.
func (w *accountWriter) noteOwed(pool string, before, after int64) {
	o, ok := w.ev.owed[pool]
	if !ok {
		o[0] = before
	}
	o[1] = after
	// Copied on write, as the pools' balances are: a copy of the writer
	// (group commit's undo of a failed call) keeps what it saw.
	m := maps.Clone(w.ev.owed)
	if m == nil {
		m = map[string][2]int64{}
	}
	m[pool] = o
	w.ev.owed = m
}

// lastOp is the index of the newest staged call, for events that the
// write as a whole causes.
func (w *accountWriter) lastOp() int { return len(w.ops) - 1 }

// finishEvents stages the write's balance events, fills every staged
// event's balance, and moves them into the batch. It runs in finish,
// before the account update is made, once the entries are final.
func (w *accountWriter) finishEvents(plan *planChange) {
	if w.l.noEvents {
		return
	}
	// Per pool the account has: before is the pool's stored balance
	// (the sum of its lots' remaining, expired or not), after its
	// available balance.
	op := w.lastOp()
	planID := w.acct.Plan
	if plan != nil {
		planID = plan.plan
	}
	pools := []string{""}
	for p := range w.pools {
		if p != "" {
			pools = append(pools, p)
		}
	}
	for p := range w.ev.beforePools {
		if _, ok := w.pools[p]; !ok && p != "" {
			pools = append(pools, p)
		}
	}
	slices.Sort(pools)
	for _, pool := range pools {
		before := w.ev.before
		if pool != "" {
			before = w.ev.beforePools[pool]
		}
		after := w.availableIn(pool)
		taken := before - after
		if taken <= 0 || op < 0 {
			continue
		}
		if t, ok := w.l.lowBalance(planID, pool); ok && before > t && after <= t {
			w.emit(EventBalanceLow, op, pool, "", taken)
		}
		if before > 0 && after <= 0 {
			w.emit(EventBalanceDepleted, op, pool, "", taken)
		}
	}
	for p, o := range w.ev.owed {
		if o[0] <= 0 && o[1] > 0 {
			w.emit(EventBalanceOverdrawn, op, p, "", o[1])
		}
	}
	for i := range w.ev.staged {
		w.ev.staged[i].Balance = w.availableIn(w.ev.staged[i].Pool)
	}
	w.batch.Events = append(w.batch.Events, w.ev.staged...)
	w.ev.staged = nil
}

// lowBalance returns the balance.low threshold in minor units of the
// plan in force (the catalog's default plan for an account without one)
// for pool.
func (l *Ledger) lowBalance(plan, pool string) (int64, bool) {
	if l.catalog == nil {
		return 0, false
	}
	if plan == "" {
		plan = l.catalog.DefaultPlan
	}
	d, ok := l.catalog.LowBalanceOf(plan, pool)
	if !ok {
		return 0, false
	}
	// New checked that every threshold fits the scale.
	m, err := toMinor(d, l.scale, false)
	if err != nil {
		return 0, false
	}
	return m, true
}

// validateEvents checks that the catalog's thresholds fit the scale.
func (c *Config) validateEvents() error {
	if c.Catalog == nil {
		return nil
	}
	check := func(what string, m map[string]decimal.Decimal) error {
		for pool, v := range m {
			if _, err := toMinor(v, c.Scale, false); err != nil {
				return fmt.Errorf("creditledger: %s low balance of pool %q: %w", what, pool, err)
			}
		}
		return nil
	}
	if err := check("catalog", c.Catalog.LowBalance); err != nil {
		return err
	}
	for _, p := range c.Catalog.Plans {
		if err := check(fmt.Sprintf("plan %q", p.ID), p.LowBalance); err != nil {
			return err
		}
	}
	return nil
}

// notice is the catalog's expiring notice (0: none, or no events).
func (l *Ledger) notice() time.Duration {
	if l.catalog == nil || l.noEvents {
		return 0
	}
	return l.catalog.ExpiringNotice
}

// inNotice reports whether an open lot is within its notice window at
// now: unexpired, with remaining credits, expiring within the notice.
func (w *accountWriter) inNotice(lot *storage.Lot) bool {
	n := w.l.notice()
	return n > 0 && lot.Remaining > 0 && lot.ExpiresAt != nil && !lot.Expired(w.now) &&
		!lot.ExpiresAt.Add(-n).After(w.now)
}

// noticeCandidates are the lots (stored ones) in their notice window at
// now: the ones whose notices a write reads before it can notice them.
func (l *Ledger) noticeCandidates(lots []*storage.Lot, now time.Time) []storage.AccountID {
	n := l.notice()
	if n == 0 {
		return nil
	}
	var out []storage.AccountID
	for _, lot := range lots {
		if lotInNotice(lot, now, n) {
			out = append(out, storage.AccountID{Account: lot.Account, ID: lot.ID})
		}
	}
	return out
}

func lotInNotice(lot *storage.Lot, now time.Time, n time.Duration) bool {
	return n > 0 && lot.Remaining > 0 && lot.ExpiresAt != nil && !lot.Expired(now) && !lot.ExpiresAt.Add(-n).After(now)
}

// readNotices reads the notices of the writer's stored lots in their
// notice window (one Load, only when there is one).
func (w *accountWriter) readNotices(ctx context.Context, tx storage.Tx) error {
	cands := w.l.noticeCandidates(w.lots, w.now)
	if len(cands) == 0 {
		return nil
	}
	loaded, err := tx.Load(ctx, storage.LoadQuery{Notices: cands})
	if err != nil {
		return err
	}
	w.setNotices(cands, loaded.Notices)
	return nil
}

// setNotices records that the notices of cands were read, and found
// those of noticed.
func (w *accountWriter) setNotices(cands, noticed []storage.AccountID) {
	if w.ev.noticed == nil {
		w.ev.noticed, w.ev.checked = map[string]bool{}, map[string]bool{}
	}
	for _, c := range cands {
		w.ev.checked[c.ID] = true
	}
	for _, n := range noticed {
		w.ev.noticed[n.ID] = true
	}
}

// stageNotices emits credits.expiring for every lot in its notice window
// that has had none, and records the notices: the write's own lots, and
// stored ones whose notices were read (a write that did not read a lot's
// leaves it to the next one).
func (w *accountWriter) stageNotices() {
	n := w.l.notice()
	if n == 0 {
		return
	}
	for _, lot := range w.lots {
		if !lotInNotice(lot, w.now, n) || w.ev.noticed[lot.ID] || (!w.ev.checked[lot.ID] && !w.isNew(lot.ID)) {
			continue
		}
		if w.ev.noticed == nil {
			w.ev.noticed, w.ev.checked = map[string]bool{}, map[string]bool{}
		}
		w.ev.noticed[lot.ID] = true
		w.batch.Notices = append(w.batch.Notices, storage.LotNotice{Account: w.acct.ID, ID: lot.ID})
		w.emit(EventCreditsExpiring, w.lastOp(), lot.Pool, lot.ID, lot.Remaining)
	}
}

// isNew reports whether the writer staged the lot itself.
func (w *accountWriter) isNew(id string) bool {
	for i := range w.batch.Lots {
		if w.batch.Lots[i].ID == id {
			return true
		}
	}
	return false
}

// noticeAt is when a lot next makes its account due for a look, with
// notices: its notice time until it has had its notice, then its expiry.
func (w *accountWriter) noticeAt(lot *storage.Lot) *time.Time {
	n := w.l.notice()
	if n == 0 || lot.ExpiresAt == nil || w.ev.noticed[lot.ID] {
		return lot.ExpiresAt
	}
	at := lot.ExpiresAt.Add(-n)
	if !at.After(w.now) {
		// In its window and not noticed: its notices were not read by
		// this write; the next look reads them.
		return &w.now
	}
	return &at
}

// grantNextExpiry is when a lot the write grants makes the account due:
// its notice time when that is still ahead (a lot granted within its
// notice is noticed by the write itself), else its expiry.
func (w *accountWriter) grantNextExpiry(expiresAt *time.Time) *time.Time {
	n := w.l.notice()
	if n == 0 || expiresAt == nil {
		return expiresAt
	}
	if at := expiresAt.Add(-n); at.After(w.now) {
		return &at
	}
	return expiresAt
}

func eventOut(e *storage.Event, scale int32) Event {
	return Event{
		ID: e.ID, Account: e.Account, Pool: e.Pool, Type: e.Type, OperationID: e.OperationID,
		Amount: toDecimal(e.Amount, scale), Balance: toDecimal(e.Balance, scale),
		LotID: e.LotID, At: e.At, Seq: e.Seq, Attempts: e.Attempts, LeasedUntil: e.LeasedUntil, AckedAt: e.AckedAt,
	}
}
