package ledger

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// setHolds gives the writer the account's active holds and any hold a
// write named, each once.
func (w *accountWriter) setHolds(holds []storage.Hold) {
	w.holdsLoaded = true
	for i := range holds {
		if w.hold(holds[i].ID) == nil {
			h := holds[i]
			w.holds = append(w.holds, &h)
		}
	}
}

// hold returns the loaded hold id, or nil.
func (w *accountWriter) hold(id string) *storage.Hold {
	for _, h := range w.holds {
		if h.ID == id {
			return h
		}
	}
	return nil
}

// lot returns the loaded lot id, or nil.
func (w *accountWriter) lot(id string) *storage.Lot {
	for _, lot := range w.lots {
		if lot.ID == id {
			return lot
		}
	}
	return nil
}

// addLots adds lots the writer does not have yet (lots loaded by id,
// whose remaining may be 0).
func (w *accountWriter) addLots(lots []storage.Lot) {
	added := false
	for i := range lots {
		if w.lot(lots[i].ID) == nil {
			lot := lots[i]
			w.lots = append(w.lots, &lot)
			added = true
		}
	}
	if added {
		// ID order, as every store loads them: the sweep writes its
		// entries in this order, the same on every store.
		slices.SortStableFunc(w.lots, func(a, b *storage.Lot) int { return strings.Compare(a.ID, b.ID) })
	}
}

// loadLotsByID loads the lots of ids that the writer does not have.
func (w *accountWriter) loadLotsByID(ctx context.Context, tx storage.Tx, ids []string) error {
	var q storage.LoadQuery
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id] && w.lot(id) == nil {
			seen[id] = true
			q.Lots = append(q.Lots, storage.AccountKey{Account: w.acct.ID, Key: id})
		}
	}
	if len(q.Lots) == 0 {
		return nil
	}
	loaded, err := tx.Load(ctx, q)
	if err != nil {
		return err
	}
	w.addLots(loaded.Lots)
	return nil
}

// holdLotIDs returns the lots the writer's holds took from.
func (w *accountWriter) holdLotIDs() []string {
	var ids []string
	for _, h := range w.holds {
		for _, ln := range h.Lines {
			ids = append(ids, ln.LotID)
		}
	}
	return ids
}

// credit raises a loaded lot's remaining and stages the store's credit.
func (w *accountWriter) credit(lot *storage.Lot, amount int64) {
	lot.Remaining += amount
	w.batch.Credits = append(w.batch.Credits, storage.LotCredit{Account: lot.Account, LotID: lot.ID, Amount: amount})
}

// entryRef stages an entry with a Ref and, for hold entries, the hold's
// expiry.
func (w *accountWriter) entryRef(opIdx int, lot *storage.Lot, kind storage.EntryKind, amount int64, description string,
	metadata map[string]string, ref string, expiresAt *time.Time) error {
	if err := w.entry(opIdx, lot, kind, amount, description, metadata); err != nil {
		return err
	}
	e := &w.batch.Entries[len(w.batch.Entries)-1]
	e.Ref, e.ExpiresAt = ref, expiresAt
	return nil
}

// sweepHolds releases every active hold that has expired at now, under
// the sweep operation *opIdx (started here if it is -1): release entries
// give the credits back to their lots, and the hold's state becomes
// expired.
func (w *accountWriter) sweepHolds(opIdx *int) error {
	for _, h := range w.holds {
		if h.State != storage.HoldActive || h.Active(w.now) {
			continue
		}
		if *opIdx < 0 {
			*opIdx = w.op(storage.KindExpire, "", "")
		}
		if err := w.endHold(*opIdx, h, storage.HoldExpired, 0, h.ExpiresAt, "hold expired"); err != nil {
			return err
		}
	}
	return nil
}

// endHold gives every line of h back to its lot (release entries under
// opIdx) and stages h's new state.
func (w *accountWriter) endHold(opIdx int, h *storage.Hold, state storage.HoldState, captured int64, at time.Time, description string) error {
	for _, ln := range h.Lines {
		lot := w.lot(ln.LotID)
		if lot == nil {
			return errMissingHoldLot(w.acct.ID, h.ID, ln.LotID)
		}
		if err := w.entryRef(opIdx, lot, storage.KindRelease, ln.Amount, description, nil, h.ID, nil); err != nil {
			return err
		}
		w.credit(lot, ln.Amount)
	}
	h.State, h.Captured, h.EndOperationID = state, captured, w.opID(opIdx)
	end := at
	h.EndedAt = &end
	w.batch.HoldUpdates = append(w.batch.HoldUpdates, storage.HoldUpdate{
		Account: w.acct.ID, ID: h.ID, State: state, Captured: captured, EndedAt: at, EndOperationID: h.EndOperationID,
	})
	w.changed = true
	return nil
}

// nextExpiry returns the soonest expiry of an open lot or an active hold.
// Without the holds loaded (a write that needs none: only a hold it made
// is known), the stored next expiry is kept when sooner:
// it may be a hold's (it is not due, or the holds would have been
// loaded), and an early time only costs the sweep a look.
func (w *accountWriter) nextExpiry() *time.Time {
	var next *time.Time
	sooner := func(t *time.Time) {
		if t != nil && (next == nil || t.Before(*next)) {
			next = t
		}
	}
	for _, lot := range w.lots {
		if lot.Remaining > 0 {
			sooner(lot.ExpiresAt)
		}
	}
	// The loaded holds, and one this write made.
	for _, h := range w.holds {
		if h.State == storage.HoldActive {
			exp := h.ExpiresAt
			sooner(&exp)
		}
	}
	if !w.holdsLoaded && w.acct.NextExpiryAt != nil && w.acct.NextExpiryAt.After(w.now) {
		sooner(w.acct.NextExpiryAt)
	}
	return next
}
