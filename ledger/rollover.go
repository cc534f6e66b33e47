package ledger

import (
	"fmt"
	"sort"
	"time"

	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// Rollover (policy.Plan.Rollover) in the history:
//
//   - The previous period's grant is the operation that granted it (its
//     key names the plan and period, or the invoice for a PerInvoice
//     plan). What it left is what its lots held when they ended: the
//     credits their expire entries took (a sweep's, or the rollover's own
//     when a lot is still open as the next period is granted), less what
//     an earlier rollover already carried out of it.
//   - While the catalog has a plan with a Rollover, every expire entry
//     names in Ref the operation that granted its lot, so that the
//     rollover finds what a sweep or a write expired before it ran. A
//     catalog without one writes expire entries as v0.2 did.
//   - The new period's grant operation carries, after the period's grant
//     entries, one grant entry per pool on a new rollover lot: Source the
//     plan's source, the new period's expiry and the plan's priority, Ref
//     the previous period's operation, Description "rollover of plan P
//     period K" and Metadata MetaRolloverPeriod (K). Lots of the previous
//     operation still open are first expired by an expire operation of
//     their own ("rolled over").
//
// It is one keyed operation with the new period's grant, so it happens
// exactly once however often Distribute runs. Credits of the previous
// period that a hold reserves when the next period is granted do not roll
// over; released later, they go back to their lot until its own expiry.
// The rollover lot counts in DistributeResult.Granted, and what the
// rollover expires in Expired. A catalog that gains a Rollover only later
// rolls over what expired since (earlier expire entries name no grant).

// MetaRolloverPeriod is the metadata key, on a rollover lot's grant
// entry, of the period whose unspent credits it carries.
const MetaRolloverPeriod = "rollover_period"

// rolloverSource is what stageRollover needs about the previous period.
type rolloverSource struct {
	opID      string
	periodKey string
	// entries are those the store had before this transaction: the
	// operation's own and those whose Ref names it.
	entries []storage.Entry
}

// expireRolled ends the lots of prev that are still open as the next
// period is granted: their remaining expires now (an expire operation of
// its own, "rolled over", staged before the new period's grant), and
// counts as what they left. A plan without a Rollover writes nothing.
func (w *accountWriter) expireRolled(plan *policy.Plan, prev *rolloverSource) (lots int, minor int64, err error) {
	if plan.Rollover == nil || prev == nil {
		return 0, 0, nil
	}
	ids, _, _ := w.prevGrants(prev)
	expOp := -1
	for _, id := range ids {
		lot := w.lot(id)
		if lot == nil || lot.Remaining <= 0 {
			continue
		}
		if expOp < 0 {
			expOp = w.op(storage.KindExpire, "", "")
		}
		amount := lot.Remaining
		if err := w.entryRef(expOp, lot, storage.KindExpire, -amount, "rolled over", nil, prev.opID, nil); err != nil {
			return 0, 0, err
		}
		w.debit(lot, amount)
		lots++
		minor += amount
	}
	if expOp >= 0 {
		w.setAvailable(expOp)
	}
	return lots, minor, nil
}

// prevGrants returns the lots prev's operation granted (in order) with
// their pools, and per pool what rollovers carried out of it already.
func (w *accountWriter) prevGrants(prev *rolloverSource) (lots []string, pools map[string]string, carried map[string]int64) {
	pools, carried = map[string]string{}, map[string]int64{}
	for _, e := range w.prevEntries(prev) {
		if e.Kind != storage.KindGrant {
			continue
		}
		switch {
		case e.OperationID == prev.opID:
			if _, ok := pools[e.LotID]; !ok {
				lots = append(lots, e.LotID)
			}
			pools[e.LotID] = entryPool(&e)
		case e.Ref == prev.opID:
			carried[entryPool(&e)] += e.Amount
		}
	}
	return lots, pools, carried
}

// prevEntries returns prev's entries, those the store had and those this
// write staged.
func (w *accountWriter) prevEntries(prev *rolloverSource) []storage.Entry {
	all := append([]storage.Entry(nil), prev.entries...)
	return append(all, w.batchEntriesOf(prev.opID)...)
}

// stageRollover grants, under opIdx (the new period's grant operation,
// already holding its grant entries), per pool the part of what prev's
// lots left that the plan's cap allows, into rollover lots expiring at
// exp. granted is the new period's amount per pool, the base of a
// percentage cap. expireRolled ran first.
func (w *accountWriter) stageRollover(opIdx int, plan *policy.Plan, planID string, prev *rolloverSource, source string,
	exp *time.Time, granted map[string]int64) (lots int, minor int64, err error) {
	if plan.Rollover == nil || prev == nil {
		return 0, 0, nil
	}
	_, pools, carried := w.prevGrants(prev)
	left := map[string]int64{}
	for _, e := range w.prevEntries(prev) {
		if e.Kind == storage.KindExpire && e.Ref == prev.opID {
			if pool, ok := pools[e.LotID]; ok {
				left[pool] += -e.Amount
			}
		}
	}
	names := make([]string, 0, len(left))
	for pool := range left {
		names = append(names, pool)
	}
	sort.Strings(names)
	for _, pool := range names {
		capMinor, err := w.rolloverCap(plan.Rollover, granted[pool])
		if err != nil {
			return 0, 0, err
		}
		amount := min(left[pool]-carried[pool], capMinor)
		if amount <= 0 {
			continue
		}
		lot, err := w.grant(opIdx, grantSpec{
			amount:      amount,
			source:      source,
			pool:        pool,
			priority:    plan.Priority,
			expiresAt:   exp,
			description: "rollover of plan " + planID + " period " + prev.periodKey,
			metadata:    map[string]string{MetaRolloverPeriod: prev.periodKey},
		})
		if err != nil {
			return 0, 0, err
		}
		lots++
		minor += amount
		for i := len(w.batch.Entries) - 1; i >= w.sealFrom; i-- { // this account's entries only (a chunk's batch is shared)
			if e := &w.batch.Entries[i]; e.LotID == lot.ID && e.Kind == storage.KindGrant {
				e.Ref = prev.opID
				break
			}
		}
	}
	return lots, minor, nil
}

// rolloverCap is the cap in minor units of a pool whose period grant is
// granted minor units.
func (w *accountWriter) rolloverCap(r *policy.Rollover, granted int64) (int64, error) {
	if r.Max.IsPositive() {
		return toMinor(r.Max, w.l.scale, true)
	}
	return granted/100*int64(r.Percent) + granted%100*int64(r.Percent)/100, nil
}

// batchEntriesOf returns the staged entries that operation opID wrote or
// whose Ref names it.
func (w *accountWriter) batchEntriesOf(opID string) []storage.Entry {
	var out []storage.Entry
	for _, e := range w.batch.Entries[w.sealFrom:] { // this account's (a chunk's batch is shared)
		if e.OperationID == opID || e.Ref == opID {
			out = append(out, e)
		}
	}
	return out
}

// refExpiries reports whether expire entries name their lot's granting
// operation (see the rollover notes above).
func (l *Ledger) refExpiries() bool { return l.rollovers }

// entryPool is the pool of an entry.
func entryPool(e *storage.Entry) string { return e.Pool }

// hasRollover reports whether any plan of c rolls credits over.
func hasRollover(c *policy.Catalog) bool {
	if c == nil {
		return false
	}
	for _, p := range c.Plans {
		if p.Rollover != nil {
			return true
		}
	}
	return false
}

// prevPeriod returns the period before p of the allocation, when the two
// are contiguous.
func prevPeriod(a policy.Allocation, pa policy.Account, p policy.Period, loc *time.Location) (policy.Period, bool) {
	d, ok := a.Allocate(pa, p.Start.Add(-time.Microsecond), loc)
	if !ok || !d.Period.End.Equal(p.Start) || d.Period.Key == p.Key {
		return policy.Period{}, false
	}
	return d.Period, true
}

// validateCatalogV03 checks that what v0.3 adds to the catalog is
// representable at the ledger's scale: overdraft limits, rollover maxima,
// and the amounts of PerInvoice and multi-pool allocations.
func validateCatalogV03(c *policy.Catalog, scale int32) error {
	if c == nil {
		return nil
	}
	for _, p := range c.Plans {
		for pool, limit := range p.Overdraft {
			if err := checkPool(pool); err != nil {
				return fmt.Errorf("creditledger: plan %q: overdraft: %w", p.ID, err)
			}
			if _, err := toMinor(limit, scale, false); err != nil {
				return fmt.Errorf("creditledger: plan %q: overdraft of pool %q: %w", p.ID, pool, err)
			}
		}
		if r := p.Rollover; r != nil && r.Max.IsPositive() {
			if _, err := toMinor(r.Max, scale, true); err != nil {
				return fmt.Errorf("creditledger: plan %q: rollover max: %w", p.ID, err)
			}
		}
		probe := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		pa := policy.Account{ID: "probe", Plan: p.ID, Anchor: probe, CreatedAt: probe}
		var due policy.Due
		ok := false
		if ia, isInvoice := p.Allocation.(policy.InvoiceAllocation); isInvoice {
			due, ok = ia.AllocateInvoice(pa, probe, c.Loc())
		} else if p.Allocation != nil {
			due, ok = p.Allocation.Allocate(pa, probe, c.Loc())
		}
		if !ok {
			continue
		}
		for _, g := range dueGrants(due) {
			if err := checkPool(g.Pool); err != nil {
				return fmt.Errorf("creditledger: plan %q: %w", p.ID, err)
			}
			if _, err := toMinor(g.Amount, scale, true); err != nil {
				return fmt.Errorf("creditledger: plan %q: pool %q: %w", p.ID, g.Pool, err)
			}
		}
	}
	return nil
}

// dueGrants returns a due's grants, one per pool: its Grants, or its
// Amount into the default pool.
func dueGrants(d policy.Due) []policy.PoolAmount {
	if len(d.Grants) > 0 {
		return d.Grants
	}
	return []policy.PoolAmount{{Pool: "", Amount: d.Amount}}
}
