package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// paramHash hashes the parameters of a write, so that a reused
// idempotency key can be told apart: same hash, a replay; another hash, a
// conflict. Every field is length-prefixed so no two inputs share an
// encoding.
type paramHash struct{ h []byte }

func (p *paramHash) str(s string) *paramHash {
	p.h = binary.AppendUvarint(p.h, uint64(len(s)))
	p.h = append(p.h, s...)
	return p
}

func (p *paramHash) int(v int64) *paramHash {
	p.h = binary.AppendVarint(p.h, v)
	return p
}

func (p *paramHash) time(t *time.Time) *paramHash {
	if t == nil {
		return p.str("never")
	}
	return p.int(t.UnixMicro())
}

func (p *paramHash) meta(m map[string]string) *paramHash {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p.int(int64(len(keys)))
	for _, k := range keys {
		p.str(k).str(m[k])
	}
	return p
}

func (p *paramHash) sum() string {
	s := sha256.Sum256(p.h)
	return hex.EncodeToString(s[:])
}

// writeSpec describes one single-account write.
type writeSpec struct {
	account string
	// create makes the account if it does not exist; without it a missing
	// account fails with missing().
	create  bool
	missing func() error
	kind    storage.EntryKind
	key     string // "" for none
	hash    string
	// needLots loads the account's open lots even when no sweep is due.
	needLots bool
	// needHolds loads the account's active holds (and the lots they took
	// from) even when no sweep is due; holdIDs names holds to load in
	// any state. Both imply needLots.
	needHolds bool
	holdIDs   []string
	// prepare, when set, runs before the sweep with the transaction, to
	// load what the write needs beyond the above.
	prepare func(ctx context.Context, tx storage.Tx, w *accountWriter) error
	// stage stages the operation's writes; opIdx is its operation.
	stage func(w *accountWriter, opIdx int) error
	// size estimates the bytes the call's text adds to a transaction
	// (description, metadata), for group commit's bound on a batch
	// (groupcommit.go); 0 counts the ids and keys only.
	size int
}

// lotsNeeded reports whether a write of s on a, locked at now, works on
// the account's open lots: it asked for them, a sweep is due, or the
// account has several pools (or dated lots), whose default pool has no
// balance but in its lots. Group commit (groupcommit.go) loads by the
// same rule, per account of a batch.
func (s *writeSpec) lotsNeeded(a *storage.Account, now time.Time) bool {
	return s.needLots || s.needHolds || expiryDue(a, now) || a.MultiPool
}

// holdsNeeded reports whether a write of s on a, locked at now, works on
// the account's active holds (and the lots they took from): it asked for
// them, or a sweep, which may end some, is due.
func (s *writeSpec) holdsNeeded(a *storage.Account, now time.Time) bool {
	return s.lotsNeeded(a, now) && (s.needHolds || expiryDue(a, now))
}

// maxKeyRaces bounds how often a write is retried after losing an
// idempotency-key race to a concurrent write on another account: the
// retry reads the winner's operation, so one retry settles it.
const maxKeyRaces = 3

// write runs one single-account write: lock the account, load what the
// write needs, replay or refuse a reused key, sweep expired lots, stage
// and apply. It returns the receipt. With group commit on (groupcommit.go)
// a write that arrives while transactions are in flight shares the next
// one with the others that arrived meanwhile.
func (l *Ledger) write(ctx context.Context, s writeSpec) (*Receipt, error) {
	if l.group != nil {
		return l.group.write(ctx, l, s)
	}
	return l.writeAlone(ctx, s)
}

// writeAlone is write in a transaction of its own.
func (l *Ledger) writeAlone(ctx context.Context, s writeSpec) (*Receipt, error) {
	for attempt := 0; ; attempt++ {
		rec, replay, err := l.writeOnce(ctx, s)
		if errors.Is(err, storage.ErrDuplicateKey) && attempt < maxKeyRaces {
			continue
		}
		if err != nil {
			return nil, err
		}
		if replay != nil {
			return l.replay(ctx, replay)
		}
		return rec, nil
	}
}

func (l *Ledger) writeOnce(ctx context.Context, s writeSpec) (rec *Receipt, replay *storage.Operation, err error) {
	var applied *storage.Batch
	defer func() {
		if err == nil {
			l.tel.committed(ctx, applied)
		}
	}()
	err = l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		rec, replay, applied = nil, nil, nil
		// The write's instant is read once the account is locked (and
		// again when the store runs fn anew): a call that waited for the
		// lock must not spend a lot that expired while it waited.
		acct, loaded, loadLots, now, err := lockForWrite(ctx, tx, s, l.clock)
		if err != nil {
			return err
		}
		if len(loaded.Operations) > 0 {
			op := loaded.Operations[0]
			if err := s.sameCall(&op); err != nil {
				return err
			}
			replay = &op
			return nil
		}
		w := l.newWriter(acct, loaded.Lots, loadLots, now)
		if s.holdsNeeded(&acct, now) {
			w.setHolds(loaded.Holds)
			if err := w.loadLotsByID(ctx, tx, w.holdLotIDs()); err != nil {
				return err
			}
		}
		opIdx, err := l.stageCall(ctx, tx, w, &s)
		if err != nil {
			return err
		}
		b := w.finish(nil)
		if err := applyLast(ctx, tx, b); err != nil {
			return err
		}
		applied = b
		opID := w.opID(opIdx)
		var entries []storage.Entry
		var available int64
		for _, e := range b.Entries {
			if e.OperationID == opID {
				if len(entries) == 0 {
					available = e.Available
				}
				entries = append(entries, e)
			}
		}
		rec = &Receipt{
			OperationID: opID,
			Entries:     l.entriesOut(entries),
			Balance:     toDecimal(available, l.scale),
		}
		return nil
	})
	return rec, replay, err
}

// sameCall checks that op, the call a key of s names, is the call s
// makes again (a replay), or returns ErrIdempotencyConflict. A call alone
// and a group commit batch both ask it.
func (s *writeSpec) sameCall(op *storage.Operation) error {
	// A reversal whose first entry gives an overdrawn part back as a lot
	// is recorded by that grant entry (overdraft.go).
	reversal := s.kind == storage.KindReverse && op.Kind == storage.KindGrant
	if op.Hash != s.hash || (op.Kind != s.kind && !reversal) {
		return fmt.Errorf("%w: key %q was first used by a %s on account %q", ErrIdempotencyConflict, s.key, op.Kind, op.Account)
	}
	return nil
}

// stageCall applies the rules of call s to its locked account's writer w
// and returns the call's index in w.ops: what the call needs loaded
// beyond w (s.prepare), the default plan's start on a new account, the
// sweep, the call itself, the payment of any debt the call's credits
// meet, and the available balance its first entry records. A call alone
// (writeOnce) and a group commit batch (groupcommit.go) both stage
// through it, so a rule added here holds for both.
func (l *Ledger) stageCall(ctx context.Context, tx storage.Tx, w *accountWriter, s *writeSpec) (int, error) {
	if s.prepare != nil {
		if err := s.prepare(ctx, tx, w); err != nil {
			return -1, err
		}
	}
	// The notices of the lots the write may warn about (events.go).
	if err := w.readNotices(ctx, tx); err != nil {
		return -1, err
	}
	if l.isNewDefaultAccount(&w.acct) {
		now := w.now
		w.acct.NextGrantAt = &now
	}
	if _, _, err := w.sweep(); err != nil {
		return -1, err
	}
	opIdx := w.op(s.kind, s.key, s.hash)
	if err := s.stage(w, opIdx); err != nil {
		return opIdx, err
	}
	// Credits the call gave back to a pool that owes pay its debt
	// (overdraft.go).
	if err := w.settleAll(opIdx); err != nil {
		return opIdx, err
	}
	w.setAvailable(opIdx)
	return opIdx, nil
}

// lockForWrite locks the account of s and loads its operation of s.key
// and, when s needs them or a sweep is due, its open lots; loadLots says
// whether it did. It returns the write's instant, read from clock once
// the lock is held (never earlier than the instant the account was
// created at). What s surely needs comes with the lock, in one call
// (storage.Tx.LockAndLoad); the lots only if a sweep turns out to be due.
func lockForWrite(ctx context.Context, tx storage.Tx, s writeSpec, clock func() time.Time) (acct storage.Account, loaded *storage.Loaded, loadLots bool, now time.Time, err error) {
	created := clock()
	ids := []string{s.account}
	q := storage.LoadQuery{}
	if s.key != "" {
		q.Keys = []storage.AccountKey{{Account: s.account, Key: s.key}}
	}
	if s.needHolds {
		s.needLots = true
	}
	if s.needLots {
		q.LotsOf = ids
	}
	accts, loaded, err := tx.LockAndLoad(ctx, ids, s.create, created, q)
	if err != nil {
		return acct, nil, false, now, err
	}
	if len(accts) == 0 {
		return acct, nil, false, now, s.missing()
	}
	acct = accts[0]
	now = clock()
	if now.Before(created) {
		now = created
	}
	loadLots = s.lotsNeeded(&acct, now)
	rest := storage.LoadQuery{}
	if loadLots && !s.needLots {
		// A sweep is due: the lots were not asked for with the lock.
		rest.LotsOf = ids
	}
	if s.holdsNeeded(&acct, now) {
		// Holds come with the lots whenever a sweep may end some, or the
		// write works on them.
		rest.HoldsOf = ids
		for _, id := range s.holdIDs {
			rest.Holds = append(rest.Holds, storage.AccountID{Account: s.account, ID: id})
		}
	}
	if len(rest.LotsOf) > 0 || len(rest.HoldsOf) > 0 {
		more, err := tx.Load(ctx, rest)
		if err != nil {
			return acct, nil, false, now, err
		}
		loaded.Lots = append(loaded.Lots, more.Lots...)
		loaded.Holds = append(loaded.Holds, more.Holds...)
	}
	return acct, loaded, loadLots, now, nil
}

// isNewDefaultAccount reports whether a write is creating an account that
// the catalog's default plan should start granting to.
func (l *Ledger) isNewDefaultAccount(a *storage.Account) bool {
	return a.Seq == 0 && a.Plan == "" && a.NextGrantAt == nil && l.catalog != nil && l.catalog.DefaultPlan != ""
}

// replay rebuilds the receipt of an operation written before.
func (l *Ledger) replay(ctx context.Context, op *storage.Operation) (*Receipt, error) {
	entries, err := l.store.OperationEntries(ctx, op.Account, op.ID)
	if err != nil {
		return nil, fmt.Errorf("creditledger: read entries of operation %s: %w", op.ID, err)
	}
	return &Receipt{
		OperationID: op.ID,
		Entries:     l.entriesOut(entries),
		Balance:     toDecimal(op.Available, l.scale),
		Replayed:    true,
	}, nil
}
