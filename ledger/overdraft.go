package ledger

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// Overdrafts (policy.Plan.Overdraft) in the history:
//
//   - The account's current plan (the catalog's default plan for an
//     account without one) decides how far below zero each pool may go.
//     A Consume past what the pool has available draws everything
//     available, then records the rest as a consume entry on the pool's
//     debt lot (a storage.Lot with Debt set, Source "overdraft", created
//     when first needed, Remaining minus the debt).
//   - While a pool owes, its Available is 0 and Owed is the debt. Holds
//     never overdraw.
//   - Credits that reach a pool that owes pay the debt first: the next
//     grant into the pool writes its grant entry for the full amount, then
//     a pair of KindSettle entries (-x on the new lot, +x on the debt lot)
//     in the same operation. Credits given back by a release, or a dated
//     grant that becomes effective, pay it in the next write that loads
//     the account's lots. Reads (Balance) show such credits as paying it
//     already. So that grants can pay, a catalog with an overdraft plan
//     makes every grant (Grant, packs, GrantInvoice, Distribute's) load
//     the account's lots; a catalog without one writes as v0.2 did.
//   - Reversing a consume that was partly overdrawn reduces the debt
//     first; what a later grant already paid of it comes back as a lot
//     of its own (Source "reversal"). Reversing a grant that paid a debt
//     takes back what remains of its lot, then owes again what it paid
//     (a refund does not pay for usage), which the pool's other credits
//     pay in the same write.

// KindSettle: credits that pay a pool's debt, -x on the paying lot and +x
// on the debt lot, in the operation that brought the credits.
const KindSettle = storage.KindSettle

// hasOverdraft reports whether any plan of c lets a pool overdraw.
func hasOverdraft(c *policy.Catalog) bool {
	if c == nil {
		return false
	}
	for _, p := range c.Plans {
		for _, limit := range p.Overdraft {
			if limit.IsPositive() {
				return true
			}
		}
	}
	return false
}

// overdraftLimit returns in minor units how far below zero the account's
// current plan lets pool go (0: not at all).
func (w *accountWriter) overdraftLimit(pool string) int64 {
	c := w.l.catalog
	if c == nil || !w.l.overdrafts {
		return 0
	}
	id := w.acct.Plan
	if id == "" {
		id = c.DefaultPlan
	}
	p, ok := c.Plan(id)
	if !ok {
		return 0
	}
	limit, ok := p.Overdraft[pool]
	if !ok {
		return 0
	}
	m, err := toMinor(limit, w.l.scale, false)
	if err != nil || m < 0 {
		return 0
	}
	return m
}

// owedIn returns what pool owes: minus the remaining of its debt lots.
func (w *accountWriter) owedIn(pool string) int64 {
	var owed int64
	for _, lot := range w.lots {
		if lot.Debt && lot.Pool == pool {
			owed -= lot.Remaining
		}
	}
	return owed
}

// spendableIn returns what pool's spendable lots hold, before its debt.
func (w *accountWriter) spendableIn(pool string) int64 {
	var sum int64
	for _, lot := range w.lots {
		if spendable(lot, pool, w.now) {
			sum += lot.Remaining
		}
	}
	return sum
}

// checkSpend returns ErrInsufficientCredits when pool cannot pay amount:
// what it has spendable, less what it owes, plus the overdraft limit of
// the account's plan.
func (w *accountWriter) checkSpend(pool string, amount int64, asked string) error {
	sp, owed := w.spendableIn(pool), w.owedIn(pool)
	limit := w.overdraftLimit(pool)
	if amount <= sp-owed+limit {
		return nil
	}
	avail := max(sp-owed, 0)
	if limit > 0 {
		return fmt.Errorf("%w: account %q has %s available%s and may overdraw to -%s (owes %s), %s asked", ErrInsufficientCredits,
			w.acct.ID, toDecimal(avail, w.l.scale), poolSuffix(pool), toDecimal(limit, w.l.scale), toDecimal(max(owed-sp, 0), w.l.scale), asked)
	}
	return fmt.Errorf("%w: account %q has %s available%s, %s asked", ErrInsufficientCredits,
		w.acct.ID, toDecimal(avail, w.l.scale), poolSuffix(pool), asked)
}

func poolSuffix(pool string) string {
	if pool == "" {
		return ""
	}
	return fmt.Sprintf(" in pool %q", pool)
}

// debtLot returns pool's open debt lot, staging a new one (amount 0,
// remaining 0) under opIdx when it has none.
func (w *accountWriter) debtLot(opIdx int, pool string) *storage.Lot {
	for _, lot := range w.lots {
		if lot.Debt && lot.Pool == pool && lot.Remaining < 0 {
			return lot
		}
	}
	lot := &storage.Lot{
		ID:          w.l.ids.New(w.now),
		Account:     w.acct.ID,
		OperationID: w.ops[opIdx].id,
		Source:      storage.SourceOverdraft,
		Pool:        pool,
		Debt:        true,
		CreatedAt:   w.now,
	}
	w.batch.Lots = append(w.batch.Lots, *lot)
	w.lots = append(w.lots, lot)
	if pool != "" {
		w.acct.MultiPool = true // as a grant into the pool would
	}
	return lot
}

// overdraw stages the part of a consume that its pool's lots could not
// pay as a consume entry on the pool's debt lot. The caller checked the
// limit (checkSpend).
func (w *accountWriter) overdraw(opIdx int, pool string, amount int64, description string, metadata map[string]string) (*storage.Entry, error) {
	if owed := w.owedIn(pool); owed+amount > w.overdraftLimit(pool) {
		return nil, fmt.Errorf("creditledger: account %q: overdraft of %d minor units past the limit after the balance check", w.acct.ID, amount)
	}
	owed := w.owedIn(pool)
	lot := w.debtLot(opIdx, pool)
	if err := w.entry(opIdx, lot, storage.KindConsume, -amount, description, metadata); err != nil {
		return nil, err
	}
	w.debit(lot, amount)
	w.noteOwed(pool, owed, owed+amount) // balance.overdrawn (events.go)
	return &w.batch.Entries[len(w.batch.Entries)-1], nil
}

// settle pays pool's debt from first (a lot just granted; nil: none) and
// then its other spendable lots in burn order, under opIdx. It does
// nothing unless the lots are loaded.
func (w *accountWriter) settle(opIdx int, pool string, first *storage.Lot) error {
	if !w.lotsLoaded {
		return nil
	}
	owed := w.owedIn(pool)
	if owed <= 0 {
		return nil
	}
	var payers []*storage.Lot
	for _, lot := range w.lots {
		if lot != first && spendable(lot, pool, w.now) {
			payers = append(payers, lot)
		}
	}
	w.l.sortLots(payers)
	if first != nil && spendable(first, pool, w.now) {
		payers = append([]*storage.Lot{first}, payers...)
	}
	for _, lot := range payers {
		if owed == 0 {
			break
		}
		x := min(lot.Remaining, owed)
		debt := w.debtLot(opIdx, pool)
		if err := w.entry(opIdx, lot, storage.KindSettle, -x, "paid debt", nil); err != nil {
			return err
		}
		w.debit(lot, x)
		if err := w.entry(opIdx, debt, storage.KindSettle, x, "debt paid", nil); err != nil {
			return err
		}
		w.credit(debt, x)
		owed -= x
	}
	return nil
}

// settleAll pays every pool's debt from its spendable lots, under opIdx.
func (w *accountWriter) settleAll(opIdx int) error {
	if !w.lotsLoaded {
		return nil
	}
	seen := map[string]bool{}
	for _, lot := range w.lots {
		if lot.Debt && lot.Remaining < 0 && !seen[lot.Pool] {
			seen[lot.Pool] = true
			if err := w.settle(opIdx, lot.Pool, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// MetaReversedDebt is the metadata key, on the grant entry of a lot that
// gives back an overdrawn part whose debt was paid already, of the debt
// lot it was drawn on.
const MetaReversedDebt = "reversed_debt"

// SourceReversal is the source of such a lot.
const SourceReversal = "reversal"

// reverseOverdraft gives back x of what a consume drew on debt lot debt:
// as far as the lot still owes, a reverse entry on it (the debt shrinks);
// the rest, which later credits already paid, as a new lot of the pool
// (a grant entry with Ref the reversed operation), which pays any debt
// the pool has run up since. It returns the entries' count of lots
// written to.
func (w *accountWriter) reverseOverdraft(opIdx int, debt *storage.Lot, x int64, target, description string, metadata map[string]string) (int, error) {
	n := 0
	if toDebt := min(x, -debt.Remaining); toDebt > 0 {
		if err := w.entryRef(opIdx, debt, storage.KindReverse, toDebt, description, metadata, target, nil); err != nil {
			return 0, err
		}
		w.credit(debt, toDebt)
		x -= toDebt
		n++
	}
	if x == 0 {
		return n, nil
	}
	meta := map[string]string{MetaReversedDebt: debt.ID}
	for k, v := range metadata {
		if k != MetaReversedDebt {
			meta[k] = v
		}
	}
	lot, err := w.grant(opIdx, grantSpec{amount: x, source: SourceReversal, pool: debt.Pool, description: description, metadata: meta})
	if err != nil {
		return 0, err
	}
	for i := len(w.batch.Entries) - 1; i >= 0; i-- {
		if e := &w.batch.Entries[i]; e.LotID == lot.ID && e.Kind == storage.KindGrant {
			e.Ref = target
			break
		}
	}
	return n + 1, nil
}

// captureOver captures more than hold h holds, on a plan whose overdraft
// lets its pool go below zero: all of h as a capture (so the hold's row
// records it captured in full), then the rest as a consume of the same
// operation, from the pool's spendable lots and then its debt lot, within
// the limit (ErrInsufficientCredits past it).
func (w *accountWriter) captureOver(opIdx int, h *storage.Hold, amount int64, description string, metadata map[string]string) error {
	if err := w.capture(opIdx, h, h.Amount, description, metadata); err != nil {
		return err
	}
	extra := amount - h.Amount
	if err := w.checkSpend(h.Pool, extra, toDecimal(amount, w.l.scale).String()+" captured from a hold of "+toDecimal(h.Amount, w.l.scale).String()); err != nil {
		return err
	}
	return w.consume(opIdx, h.Pool, extra, description, metadata)
}

// spent returns what a receipt's capture and consume entries spent.
func spent(rec *Receipt) decimal.Decimal {
	sum := decimal.Zero
	for _, e := range rec.Entries {
		if e.Kind == KindCapture || e.Kind == KindConsume {
			sum = sum.Sub(e.Amount)
		}
	}
	return sum
}
