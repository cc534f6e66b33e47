package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
	"github.com/shopspring/decimal"
)

// ErrHoldNotActive: Capture or Release of a hold that was captured,
// released or has expired (a Capture with another amount than the one
// that captured it included). Nothing was written.
var ErrHoldNotActive = errors.New("creditledger: hold is not active")

// The kinds of entries holds and reversals write.
const (
	// KindHold: credits a hold took from a lot (negative); the entry's
	// OperationID is the hold's ID.
	KindHold = storage.KindHold
	// KindRelease: held credits given back to their lot (positive) when
	// the hold is released, expires or is captured (a capture releases
	// the hold, then spends); Ref is the hold's ID.
	KindRelease = storage.KindRelease
	// KindCapture: held credits a capture spent (negative); Ref is the
	// hold's ID.
	KindCapture = storage.KindCapture
	// KindReverse: a reversal (negative for a grant's, positive for a
	// consume's or capture's); Ref is the reversed operation's ID.
	KindReverse = storage.KindReverse
)

// HoldState is where a hold is in its life.
type HoldState = storage.HoldState

// The states of a hold.
const (
	HoldActive   = storage.HoldActive   // holds its credits
	HoldCaptured = storage.HoldCaptured // Capture spent part or all of it
	HoldReleased = storage.HoldReleased // Release gave it all back
	HoldExpired  = storage.HoldExpired  // its ExpiresAt passed first
)

// Hold TTL bounds.
const (
	DefaultHoldTTL = 15 * time.Minute // HoldParams.TTL zero
	MaxHoldTTL     = 24 * time.Hour
)

// HoldParams are the parameters of Hold.
type HoldParams struct {
	// Account is the host's user id.
	Account string
	// IdempotencyKey is optional, as for Consume: a retry with the same
	// parameters returns the first hold (as it is now), marked Replayed.
	IdempotencyKey string
	Description    string
	// Amount must be positive with at most Scale decimal places.
	Amount decimal.Decimal
	// TTL is how long the hold lasts unless captured or released first:
	// zero means DefaultHoldTTL (15 minutes); otherwise at least a
	// microsecond and at most MaxHoldTTL (24 hours). The expiry is cut
	// to the microsecond.
	TTL      time.Duration
	Metadata map[string]string

	// Pool, Feature and Quantity are as for Consume: the hold takes from
	// that pool's lots only, and a Feature prices it instead of Amount.
	Pool     string
	Feature  string
	Quantity decimal.Decimal
}

// Hold is a reservation of credits.
type Hold struct {
	ID, Account string
	// Amount is what the hold took at creation; Captured what a Capture
	// spent of it (zero otherwise).
	Amount, Captured decimal.Decimal
	// State is HoldExpired from the ExpiresAt instant on, whether or not
	// a write has recorded the expiry.
	State                HoldState
	ExpiresAt, CreatedAt time.Time
	// Pool is the pool whose lots the hold took from.
	Pool string
	// Replayed is true when Hold returned the hold of an earlier call
	// with the same idempotency key.
	Replayed bool
}

func (l *Ledger) holdOut(h *storage.Hold, now time.Time) *Hold {
	state := h.State
	if state == storage.HoldActive && !h.Active(now) {
		state = storage.HoldExpired
	}
	return &Hold{
		ID: h.ID, Account: h.Account,
		Amount: toDecimal(h.Amount, l.scale), Captured: toDecimal(h.Captured, l.scale),
		State: state, ExpiresAt: h.ExpiresAt, CreatedAt: h.CreatedAt, Pool: h.Pool,
	}
}

// Hold reserves credits: it takes Amount from the account's unexpired lots
// in burn order, as a consume would, so that no Consume, other Hold or
// Reverse can take them, until Capture spends them, Release gives them
// back, or the hold expires at CreatedAt+TTL (exactly at that instant,
// without a sweep; the next write or sweep of the account records it).
// The history shows one hold entry per lot drawn on.
//
// Errors: ErrInsufficientCredits when less than Amount is available (for
// an account never written to it also matches ErrNotFound);
// ErrInvalidArgument for a TTL below zero, between zero and a
// microsecond (the precision stores keep), or above MaxHoldTTL, or a
// malformed account, key, description or metadata; ErrInvalidAmount;
// ErrIdempotencyConflict. On any error nothing is written.
func (l *Ledger) Hold(ctx context.Context, p HoldParams) (out *Hold, err error) {
	ctx, call := l.tel.begin(ctx, opHold)
	defer func() { call.end(ctx, out != nil && out.Replayed, err) }()
	if err := checkCall(p.Account, p.IdempotencyKey, p.Description, p.Metadata); err != nil {
		return nil, err
	}
	if p.TTL < 0 || p.TTL > MaxHoldTTL {
		return nil, fmt.Errorf("%w: hold TTL %s is outside [0, %s]", ErrInvalidArgument, p.TTL, MaxHoldTTL)
	}
	if p.TTL > 0 && p.TTL < time.Microsecond {
		// Stores keep microseconds: such a hold would expire at the
		// instant it was made, reserving nothing (Grant refuses the
		// equivalent expiry too).
		return nil, fmt.Errorf("%w: hold TTL %s is below the %s a ledger keeps", ErrInvalidArgument, p.TTL, time.Microsecond)
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultHoldTTL
	}
	u, err := l.resolveUsage(p.Amount, p.Pool, p.Feature, p.Quantity)
	if err != nil {
		return nil, err
	}
	amount := u.amount
	var made *storage.Hold
	var now time.Time
	rec, err := l.write(ctx, writeSpec{
		account: p.Account,
		missing: func() error {
			return errNoCredits(p.Account)
		},
		kind: storage.KindHold,
		key:  p.IdempotencyKey,
		hash: hashPool(u.hash(p.Account).int(int64(ttl)).str(p.Description).meta(p.Metadata), u.pool).sum(),
		// The account's other holds are not needed (their credits are
		// out of the lots already), unless a sweep is due, which loads
		// them anyway: a hold costs what a consume costs.
		needLots: true,
		size:     textBytes(p.Description, p.Metadata),
		stage: func(w *accountWriter, opIdx int) error {
			now = w.now
			if avail := w.availableIn(u.pool); avail < amount {
				if u.pool != "" {
					return fmt.Errorf("%w: account %q has %s available in %s, a hold of %s asked", ErrInsufficientCredits,
						p.Account, toDecimal(avail, l.scale), poolName(u.pool), toDecimal(amount, l.scale))
				}
				return fmt.Errorf("%w: account %q has %s available, a hold of %s asked", ErrInsufficientCredits,
					p.Account, toDecimal(avail, l.scale), toDecimal(amount, l.scale))
			}
			from := len(w.batch.Entries)
			h, err := w.takeHold(opIdx, u.pool, amount, w.now.Add(ttl).Truncate(time.Microsecond), p.Description, p.Metadata)
			made = h
			if err == nil {
				w.tagUsage(from, u)
			}
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	if rec.Replayed {
		hs, err := l.store.Holds(ctx, storage.HoldQuery{Account: p.Account, ID: rec.OperationID})
		if err != nil {
			return nil, fmt.Errorf("creditledger: read hold %s: %w", rec.OperationID, err)
		}
		if len(hs) == 0 {
			return nil, fmt.Errorf("creditledger: hold %s of key %q: %w", rec.OperationID, p.IdempotencyKey, ErrNotFound)
		}
		out := l.holdOut(&hs[0], l.clock())
		out.Replayed = true
		return out, nil
	}
	return l.holdOut(made, now), nil
}

// takeHold stages a hold of amount from the unexpired lots in burn order.
// The caller has checked that available() covers it.
func (w *accountWriter) takeHold(opIdx int, pool string, amount int64, expiresAt time.Time, description string, metadata map[string]string) (*storage.Hold, error) {
	open := w.spendableLots(pool)
	h := &storage.Hold{
		ID: w.opID(opIdx), Account: w.acct.ID, Amount: amount, State: storage.HoldActive,
		ExpiresAt: expiresAt, CreatedAt: w.now, Pool: pool,
	}
	left := amount
	for _, lot := range open {
		if left == 0 {
			break
		}
		take := min(lot.Remaining, left)
		exp := expiresAt
		if err := w.entryRef(opIdx, lot, storage.KindHold, -take, description, metadata, "", &exp); err != nil {
			return nil, err
		}
		w.debit(lot, take)
		h.Lines = append(h.Lines, storage.HoldLine{LotID: lot.ID, Amount: take})
		left -= take
	}
	if left != 0 {
		return nil, fmt.Errorf("creditledger: account %q: lots short by %d minor units after the balance check", w.acct.ID, left)
	}
	w.batch.Holds = append(w.batch.Holds, *h)
	w.holds = append(w.holds, h)
	return h, nil
}

// CaptureParams are the parameters of Capture.
type CaptureParams struct {
	Account, HoldID, Description string
	// Amount is what to spend: 0 < Amount <= the held amount; the rest is
	// released.
	Amount   decimal.Decimal
	Metadata map[string]string
}

// captureReplay is how a capture's stage says the hold was captured
// before with the same amount: the first receipt is the answer. amount,
// when set, is an overdrawing capture's, which the receipt must show.
type captureReplay struct {
	opID   string
	amount int64
}

func (captureReplay) Error() string { return "creditledger: capture replayed" }

// Capture spends Amount of an active hold and releases the rest, in one
// transaction: release entries give every held credit back to its lot,
// then capture entries spend Amount from those lots in burn order, even
// from a lot that expired after the hold was taken (the credits were
// valid when reserved; the hold's TTL bounds how long). What goes back
// to an expired lot is expired by the same write. The receipt has the
// release and capture entries and the available balance after.
//
// A Capture of a hold captured before with the same Amount returns the
// first receipt, Replayed, and writes nothing.
//
// Errors: ErrNotFound for an unknown hold or account; ErrHoldNotActive
// for a hold that was released, expired (at or after its ExpiresAt) or
// captured with another amount; ErrInvalidAmount for an Amount that is
// not positive or exceeds the hold's; ErrInvalidArgument for a malformed
// account, hold id, description or metadata. On any error nothing is
// written.
func (l *Ledger) Capture(ctx context.Context, p CaptureParams) (rec *Receipt, err error) {
	ctx, call := l.tel.begin(ctx, opCapture)
	defer func() { call.end(ctx, rec != nil && rec.Replayed, err) }()
	if err := checkID("account", p.Account); err != nil {
		return nil, err
	}
	if err := checkText("hold id", p.HoldID); err != nil {
		return nil, err
	}
	if err := checkBounded("description", p.Description, MaxDescriptionLength); err != nil {
		return nil, err
	}
	if err := checkMetadata(p.Metadata); err != nil {
		return nil, err
	}
	amount, err := toMinor(p.Amount, l.scale, true)
	if err != nil {
		return nil, err
	}
	rec, err = l.write(ctx, writeSpec{
		account:   p.Account,
		missing:   func() error { return fmt.Errorf("%w: hold %s: account %q", ErrNotFound, p.HoldID, p.Account) },
		kind:      storage.KindCapture,
		needHolds: true,
		holdIDs:   []string{p.HoldID},
		size:      textBytes(p.Description, p.Metadata),
		stage: func(w *accountWriter, opIdx int) error {
			h := w.hold(p.HoldID)
			if h == nil {
				return fmt.Errorf("%w: hold %s of account %q", ErrNotFound, p.HoldID, p.Account)
			}
			switch h.State {
			case storage.HoldActive:
			case storage.HoldCaptured:
				if h.Captured == amount {
					return captureReplay{opID: h.EndOperationID}
				}
				if amount > h.Amount && h.Captured == h.Amount {
					// Maybe an overdrawing capture of this amount
					// (overdraft.go): its receipt says.
					return captureReplay{opID: h.EndOperationID, amount: amount}
				}
				return fmt.Errorf("%w: hold %s was captured with %s, not %s", ErrHoldNotActive, h.ID,
					toDecimal(h.Captured, l.scale), p.Amount)
			default:
				return fmt.Errorf("%w: hold %s is %s", ErrHoldNotActive, h.ID, h.State)
			}
			if amount > h.Amount && w.overdraftLimit(h.Pool) > 0 {
				return w.captureOver(opIdx, h, amount, p.Description, p.Metadata)
			}
			if amount > h.Amount {
				return fmt.Errorf("%w: capture of %s from hold %s of %s", ErrInvalidAmount, p.Amount, h.ID,
					toDecimal(h.Amount, l.scale))
			}
			return w.capture(opIdx, h, amount, p.Description, p.Metadata)
		},
	})
	var replay captureReplay
	if errors.As(err, &replay) {
		rec, err := l.replayCapture(ctx, p.Account, replay.opID)
		if err == nil && replay.amount > 0 && !spent(rec).Equal(toDecimal(replay.amount, l.scale)) {
			return nil, fmt.Errorf("%w: hold %s was captured with %s, not %s", ErrHoldNotActive, p.HoldID, spent(rec), p.Amount)
		}
		return rec, err
	}
	return rec, err
}

// capture stages the release of h and the spending of amount from its
// lots, in burn order, then expires what went back to expired lots.
func (w *accountWriter) capture(opIdx int, h *storage.Hold, amount int64, description string, metadata map[string]string) error {
	if err := w.endHold(opIdx, h, storage.HoldCaptured, amount, w.now, description); err != nil {
		return err
	}
	held := map[string]int64{}
	lots := make([]*storage.Lot, 0, len(h.Lines))
	for _, ln := range h.Lines {
		if held[ln.LotID] == 0 {
			lots = append(lots, w.lot(ln.LotID))
		}
		held[ln.LotID] += ln.Amount
	}
	w.l.sortLots(lots)
	left := amount
	for _, lot := range lots {
		if left == 0 {
			break
		}
		take := min(held[lot.ID], left)
		if err := w.entryRef(opIdx, lot, storage.KindCapture, -take, description, metadata, h.ID, nil); err != nil {
			return err
		}
		w.debit(lot, take)
		left -= take
	}
	_, _, err := w.sweep()
	return err
}

// replayCapture returns the receipt of the capture opID wrote.
func (l *Ledger) replayCapture(ctx context.Context, account, opID string) (*Receipt, error) {
	entries, err := l.store.OperationEntries(ctx, account, opID)
	if err != nil {
		return nil, fmt.Errorf("creditledger: read entries of operation %s: %w", opID, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("creditledger: capture %s of account %q has no entries: %w", opID, account, ErrNotFound)
	}
	return l.replay(ctx, &storage.Operation{ID: opID, Account: account, Available: entries[0].Available})
}

// holdUnchanged is how a release's stage says the hold was released
// before: it is returned as it is.
type holdUnchanged struct{ h storage.Hold }

func (holdUnchanged) Error() string { return "creditledger: hold released before" }

// ReleaseParams are the parameters of ReleaseWith.
type ReleaseParams struct {
	Account string
	// HoldID is the Hold's ID.
	HoldID string
	// Description of the release entries. Empty: "released".
	Description string
}

// ReleaseWith gives the credits of an active hold back to their lots
// (what goes back to a lot that has expired meanwhile is expired by the
// same write) and returns the hold, now HoldReleased. Releasing a
// released hold returns it unchanged and writes nothing, so a retried
// release needs no idempotency key.
//
// Errors: ErrNotFound for an unknown hold or account; ErrHoldNotActive
// for a captured or expired hold; ErrInvalidArgument for a malformed
// account, hold id or description. On any error nothing is written.
func (l *Ledger) ReleaseWith(ctx context.Context, p ReleaseParams) (_ *Hold, err error) {
	ctx, call := l.tel.begin(ctx, opRelease)
	defer func() { call.end(ctx, false, err) }()
	account, holdID := p.Account, p.HoldID
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	if err := checkText("hold id", holdID); err != nil {
		return nil, err
	}
	if err := checkBounded("description", p.Description, MaxDescriptionLength); err != nil {
		return nil, err
	}
	description := p.Description
	if description == "" {
		description = "released"
	}
	var out *Hold
	_, err = l.write(ctx, writeSpec{
		account:   account,
		missing:   func() error { return fmt.Errorf("%w: hold %s: account %q", ErrNotFound, holdID, account) },
		kind:      storage.KindRelease,
		needHolds: true,
		holdIDs:   []string{holdID},
		size:      len(description),
		stage: func(w *accountWriter, opIdx int) error {
			h := w.hold(holdID)
			if h == nil {
				return fmt.Errorf("%w: hold %s of account %q", ErrNotFound, holdID, account)
			}
			switch h.State {
			case storage.HoldActive:
			case storage.HoldReleased:
				return holdUnchanged{h: *h}
			default:
				return fmt.Errorf("%w: hold %s is %s", ErrHoldNotActive, h.ID, h.State)
			}
			if err := w.endHold(opIdx, h, storage.HoldReleased, 0, w.now, description); err != nil {
				return err
			}
			out = l.holdOut(h, w.now)
			_, _, err := w.sweep()
			return err
		},
	})
	var same holdUnchanged
	if errors.As(err, &same) {
		return l.holdOut(&same.h, l.clock()), nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Release is shorthand for ReleaseWith(ctx, ReleaseParams{Account:
// account, HoldID: holdID}).
func (l *Ledger) Release(ctx context.Context, account, holdID string) (*Hold, error) {
	return l.ReleaseWith(ctx, ReleaseParams{Account: account, HoldID: holdID})
}

// Holds returns the account's active holds (not captured, released or
// expired at this instant), oldest first; none for an account that has
// none or was never written to.
//
// Errors: ErrInvalidArgument for a malformed account id.
func (l *Ledger) Holds(ctx context.Context, account string) (_ []Hold, err error) {
	ctx, call := l.tel.begin(ctx, opHolds)
	defer func() { call.end(ctx, false, err) }()
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	now := l.clock()
	hs, err := l.store.Holds(ctx, storage.HoldQuery{Account: account, OnlyActive: true})
	if err != nil {
		return nil, fmt.Errorf("creditledger: holds of account %q: %w", account, err)
	}
	out := []Hold{}
	for i := range hs {
		if hs[i].Active(now) {
			out = append(out, *l.holdOut(&hs[i], now))
		}
	}
	return out, nil
}

func errMissingHoldLot(account, hold, lot string) error {
	return fmt.Errorf("creditledger: account %q: hold %s names lot %s, which the store does not have", account, hold, lot)
}

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
			q.Lots = append(q.Lots, storage.AccountID{Account: w.acct.ID, ID: id})
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
		var back int64
		for _, ln := range h.Lines {
			back += ln.Amount
		}
		if err := w.endHold(*opIdx, h, storage.HoldExpired, 0, h.ExpiresAt, "hold expired"); err != nil {
			return err
		}
		w.emit(EventHoldExpired, *opIdx, "", "", back)
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
			sooner(w.noticeAt(lot))
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

// loadHolds gives the chunk's jobs their loaded active holds, and loads
// the lots those holds took from that are not loaded yet (their remaining
// may be 0), so that a sweep can give the credits of expired holds back.
func (c *chunk) loadHolds(ctx context.Context, tx storage.Tx, byID map[string]*accountJob, holds []storage.Hold) error {
	if len(holds) == 0 {
		return nil
	}
	have := map[storage.AccountID]bool{}
	for _, job := range byID {
		for _, lot := range job.lots {
			have[storage.AccountID{Account: lot.Account, ID: lot.ID}] = true
		}
	}
	var q storage.LoadQuery
	for _, h := range holds {
		job := byID[h.Account]
		if job == nil {
			continue
		}
		job.holds = append(job.holds, h)
		for _, ln := range h.Lines {
			k := storage.AccountID{Account: h.Account, ID: ln.LotID}
			if !have[k] {
				have[k] = true
				q.Lots = append(q.Lots, k)
			}
		}
	}
	if len(q.Lots) == 0 {
		return nil
	}
	loaded, err := tx.Load(ctx, q)
	if err != nil {
		return err
	}
	for _, lot := range loaded.Lots {
		if job := byID[lot.Account]; job != nil {
			job.lots = append(job.lots, lot)
			job.sortLots = true
		}
	}
	for _, job := range byID {
		if job.sortLots {
			// ID order, as every store loads them: the sweep writes its
			// entries in this order, the same on every store.
			slices.SortStableFunc(job.lots, func(a, b storage.Lot) int { return strings.Compare(a.ID, b.ID) })
		}
	}
	return nil
}
