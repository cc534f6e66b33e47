package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/storage"
)

// ReverseParams are the parameters of Reverse.
type ReverseParams struct {
	Account string
	// OperationID is the receipt's OperationID of a grant, a consume or a
	// capture; or Key is that call's idempotency key. Exactly one of the
	// two.
	OperationID string
	Key         string
	// Amount is at most what to reverse; nil: all that can still be.
	Amount *decimal.Decimal
	// IdempotencyKey is this reversal's own key; optional, as for
	// Consume.
	IdempotencyKey string
	Description    string
	Metadata       map[string]string
}

// nothingToReverse is how a reversal's stage says nothing is left: the
// transaction is dropped, and the caller gets a receipt with no entries.
type nothingToReverse struct{ available int64 }

func (nothingToReverse) Error() string { return "creditledger: nothing left to reverse" }

// Reverse undoes an earlier call, up to Amount:
//   - of a grant (a refunded or charged-back pack), it takes back what
//     remains of the lot now: never credits that were spent, or are held
//     (a hold released later gives them back to the lot), and nothing of
//     a lot that has expired; the entries are negative and say how much
//     was taken back; what the grant paid of a pool's debt (an
//     overdraft) is owed again;
//   - of a consume or a capture (a failed call), it gives the credits back
//     to the lots they came from, less what earlier reversals of it gave
//     back; what goes back to an expired lot is expired by the same write
//     and does not become available; the entries are positive. What
//     it overdrew reduces the pool's debt first.
//
// Each reverse entry's Ref is the reversed operation's ID. What was
// reversed once is never reversed again: with nothing left, the receipt
// has NothingToReverse set, no entries, an empty OperationID and the
// available balance, and nothing is written (so its IdempotencyKey is
// not recorded either). That is a receipt rather than an error because
// the caller's goal (nothing of the operation left) holds, as a retried
// refund webhook expects; a caller that wants to tell it apart tests the
// field.
//
// Errors: ErrInvalidArgument when neither or both of OperationID and Key
// are given, when the operation is a hold, release, expiry or reversal
// (only grants, consumes and captures can be reversed), or for a
// malformed field; ErrNotFound for an unknown account, operation or key
// on that account; ErrInvalidAmount for an Amount that is not positive;
// ErrIdempotencyConflict. On any error nothing is written.
func (l *Ledger) Reverse(ctx context.Context, p ReverseParams) (_ *Receipt, err error) {
	ctx, call := l.tel.begin(ctx, opReverse)
	var replayed bool
	defer func() { call.end(ctx, replayed, err) }()
	if err := checkID("account", p.Account); err != nil {
		return nil, err
	}
	if (p.OperationID == "") == (p.Key == "") {
		return nil, fmt.Errorf("%w: Reverse needs exactly one of OperationID (%q) and Key (%q)", ErrInvalidArgument, p.OperationID, p.Key)
	}
	if p.OperationID != "" {
		if err := checkText("operation id", p.OperationID); err != nil {
			return nil, err
		}
	} else if err := checkKey(p.Key, true); err != nil {
		return nil, err
	}
	if err := checkKey(p.IdempotencyKey, false); err != nil {
		return nil, err
	}
	if err := checkBounded("description", p.Description, MaxDescriptionLength); err != nil {
		return nil, err
	}
	if err := checkMetadata(p.Metadata); err != nil {
		return nil, err
	}
	limit := int64(-1) // all
	hash := new(paramHash).str(p.Account).str(p.OperationID).str(p.Key)
	if p.Amount != nil {
		a, err := toMinor(*p.Amount, l.scale, true)
		if err != nil {
			return nil, err
		}
		limit = a
		hash.int(a)
	} else {
		hash.str("all")
	}
	var target string
	var entries []storage.Entry // the target's and its reversals', by Seq
	rec, err := l.write(ctx, writeSpec{
		account:  p.Account,
		missing:  func() error { return fmt.Errorf("%w: account %q", ErrNotFound, p.Account) },
		kind:     storage.KindReverse,
		key:      p.IdempotencyKey,
		hash:     hash.str(p.Description).meta(p.Metadata).sum(),
		needLots: true,
		size:     textBytes(p.Description, p.Metadata),
		prepare: func(ctx context.Context, tx storage.Tx, w *accountWriter) error {
			target = p.OperationID
			if p.Key != "" {
				loaded, err := tx.Load(ctx, storage.LoadQuery{Keys: []storage.AccountKey{{Account: p.Account, Key: p.Key}}})
				if err != nil {
					return err
				}
				if len(loaded.Operations) == 0 {
					return fmt.Errorf("%w: no call with key %q on account %q", ErrNotFound, p.Key, p.Account)
				}
				target = loaded.Operations[0].ID
			}
			loaded, err := tx.Load(ctx, storage.LoadQuery{Refs: []storage.AccountID{{Account: p.Account, ID: target}}})
			if err != nil {
				return err
			}
			entries = loaded.Entries
			var lots []string
			for _, e := range entries {
				if e.LotID != "" {
					lots = append(lots, e.LotID)
				}
			}
			return w.loadLotsByID(ctx, tx, lots)
		},
		stage: func(w *accountWriter, opIdx int) error {
			return w.reverse(opIdx, target, entries, limit, p.Description, p.Metadata)
		},
	})
	var none nothingToReverse
	if errors.As(err, &none) {
		return &Receipt{Entries: []Entry{}, Balance: toDecimal(none.available, l.scale), NothingToReverse: true}, nil
	}
	replayed = rec != nil && rec.Replayed
	return rec, err
}

// reverse stages the reversal of operation target, whose entries and
// whose earlier reversals' entries are given, of at most limit (-1: all).
func (w *accountWriter) reverse(opIdx int, target string, entries []storage.Entry, limit int64, description string, metadata map[string]string) error {
	var kinds []storage.EntryKind
	var grants []string         // lots the target granted, in order
	drawn := map[string]int64{} // per lot, what a consume or capture took
	var drawnOrder []string     // those lots, in order
	back := map[string]int64{}  // per lot, what earlier reversals moved (signed)
	// per debt lot, what a reversed grant paid of its pool's debt
	// (overdraft.go), in order
	settled := map[string]int64{}
	var settledOrder []string
	found := false
	pool := "" // the target's, whose available balance answers
	for _, e := range entries {
		switch {
		case e.OperationID == target:
			found = true
			pool = e.Pool
			if !slices.Contains(kinds, e.Kind) {
				kinds = append(kinds, e.Kind)
			}
			switch e.Kind {
			case storage.KindGrant:
				grants = append(grants, e.LotID)
			case storage.KindSettle:
				if e.Amount > 0 { // the debt lot's side
					if settled[e.LotID] == 0 {
						settledOrder = append(settledOrder, e.LotID)
					}
					settled[e.LotID] += e.Amount
				}
			case storage.KindConsume, storage.KindCapture:
				if drawn[e.LotID] == 0 {
					drawnOrder = append(drawnOrder, e.LotID)
				}
				drawn[e.LotID] += -e.Amount
			}
		case e.Ref == target && e.Kind == storage.KindReverse:
			back[e.LotID] += e.Amount
		case e.Ref == target && e.Kind == storage.KindGrant && e.Metadata[MetaReversedDebt] != "":
			// An overdrawn part given back as a lot (overdraft.go).
			back[e.Metadata[MetaReversedDebt]] += e.Amount
		}
	}
	if !found {
		return fmt.Errorf("%w: no operation %s on account %q", ErrNotFound, target, w.acct.ID)
	}
	if len(grants) == 0 && len(drawnOrder) == 0 {
		return fmt.Errorf("%w: operation %s wrote %v entries: only grants, consumes and captures can be reversed",
			ErrInvalidArgument, target, kinds)
	}
	left := limit
	take := func(avail int64) int64 {
		if left < 0 {
			return max(avail, 0)
		}
		t := min(avail, left)
		left -= max(t, 0)
		return max(t, 0)
	}
	staged := 0
	var moved int64
	for _, id := range grants {
		lot := w.lot(id)
		if lot == nil {
			return errMissingHoldLot(w.acct.ID, target, id)
		}
		avail := lot.Remaining
		if lot.Expired(w.now) {
			avail = 0
		}
		x := take(avail)
		if x == 0 {
			continue
		}
		if err := w.entryRef(opIdx, lot, storage.KindReverse, -x, description, metadata, target, nil); err != nil {
			return err
		}
		w.debit(lot, x)
		moved += x
		staged++
	}
	if len(grants) > 0 {
		// A reversed grant that paid a debt leaves it owed again: a
		// refund does not pay for usage (overdraft.go). Other credits of
		// the pool then pay it, in the same write.
		for _, id := range settledOrder {
			lot := w.lot(id)
			if lot == nil {
				return errMissingHoldLot(w.acct.ID, target, id)
			}
			x := take(settled[id] + back[id])
			if x == 0 {
				continue
			}
			if err := w.entryRef(opIdx, lot, storage.KindReverse, -x, description, metadata, target, nil); err != nil {
				return err
			}
			w.debit(lot, x)
			staged++
		}
	}
	// What a consume overdrew goes back first: it reduces the debt.
	slices.SortStableFunc(drawnOrder, func(a, b string) int {
		da, db := w.lot(a) != nil && w.lot(a).Debt, w.lot(b) != nil && w.lot(b).Debt
		switch {
		case da && !db:
			return -1
		case db && !da:
			return 1
		}
		return 0
	})
	for _, id := range drawnOrder {
		lot := w.lot(id)
		if lot == nil {
			return errMissingHoldLot(w.acct.ID, target, id)
		}
		x := take(drawn[id] - back[id])
		if x == 0 {
			continue
		}
		if lot.Debt {
			n, err := w.reverseOverdraft(opIdx, lot, x, target, description, metadata)
			if err != nil {
				return err
			}
			staged += n
			continue
		}
		if err := w.entryRef(opIdx, lot, storage.KindReverse, x, description, metadata, target, nil); err != nil {
			return err
		}
		w.credit(lot, x)
		moved += x
		staged++
	}
	if staged == 0 {
		return nothingToReverse{available: w.availableIn(pool)}
	}
	w.emit(EventCreditsReversed, opIdx, "", "", moved)
	_, _, err := w.sweep()
	return err
}
