package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/creditledger/creditledger/storage"
)

// Holds returns copies of an account's holds, in creation order.
func (s *Store) Holds(_ context.Context, q storage.HoldQuery) ([]storage.Hold, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holdsOfLocked(q), nil
}

func (s *Store) holdsOfLocked(q storage.HoldQuery) []storage.Hold {
	var out []storage.Hold
	for _, id := range s.holdsOf[q.Account] {
		h := s.holds[storage.AccountID{Account: q.Account, ID: id}]
		if (q.ID != "" && h.ID != q.ID) || (q.OnlyActive && h.State != storage.HoldActive) {
			continue
		}
		out = append(out, copyHold(h))
	}
	return out
}

func copyHold(h *storage.Hold) storage.Hold {
	cp := *h
	cp.Lines = slices.Clone(h.Lines)
	cp.EndedAt = normPtr(h.EndedAt)
	return cp
}

// loadHolds adds to out what q asks of holds, lots by id and entries by
// operation.
func (t *memTx) loadHolds(q storage.LoadQuery, out *storage.Loaded) {
	s := t.s
	seen := map[storage.AccountID]bool{}
	for _, acct := range q.HoldsOf {
		for _, h := range s.holdsOfLocked(storage.HoldQuery{Account: acct, OnlyActive: true}) {
			k := storage.AccountID{Account: h.Account, ID: h.ID}
			if !seen[k] {
				seen[k] = true
				out.Holds = append(out.Holds, h)
			}
		}
	}
	for _, k := range q.Holds {
		if h, ok := s.holds[k]; ok && !seen[k] {
			seen[k] = true
			out.Holds = append(out.Holds, copyHold(h))
		}
	}
	for _, k := range q.Lots {
		if lot, ok := s.lots[k.ID]; ok && lot.Account == k.Account {
			out.Lots = append(out.Lots, *lot)
		}
	}
	refs := map[storage.AccountID]bool{}
	for _, k := range q.Refs {
		refs[k] = true
	}
	done := map[string]bool{}
	for _, k := range q.Refs {
		if done[k.Account] {
			continue
		}
		done[k.Account] = true
		for _, e := range s.entries[k.Account] {
			if refs[storage.AccountID{Account: k.Account, ID: e.OperationID}] ||
				(e.Ref != "" && refs[storage.AccountID{Account: k.Account, ID: e.Ref}]) {
				out.Entries = append(out.Entries, copyEntry(e))
			}
		}
	}
}

// checkCredits checks the batch's credits and that every lot's debits and
// credits leave it within [0, amount].
func (t *memTx) checkCredits(b *storage.Batch, newLots map[string]*storage.Lot, debited map[string]int64) error {
	s := t.s
	net := map[string]int64{}
	for id, d := range debited {
		net[id] = -d
	}
	for _, c := range b.Credits {
		if err := s.checkLotChange("credit", newLots, c.Account, c.LotID, c.Amount); err != nil {
			return err
		}
		net[c.LotID] += c.Amount
	}
	for id, n := range net {
		lot := s.lots[id]
		if lot == nil {
			lot = newLots[id]
		}
		if err := checkRemaining(lot, lot.Remaining+n); err != nil {
			return err
		}
	}
	return nil
}

// checkHolds checks new holds and hold updates.
func (t *memTx) checkHolds(b *storage.Batch) error {
	s := t.s
	fresh := map[storage.AccountID]bool{}
	for _, h := range b.Holds {
		k := storage.AccountID{Account: h.Account, ID: h.ID}
		if _, dup := s.holds[k]; dup || fresh[k] {
			return fmt.Errorf("memory: hold %s of account %q exists", h.ID, h.Account)
		}
		if _, ok := s.accounts[h.Account]; !ok {
			return fmt.Errorf("%w: account %q of hold %s", storage.ErrNotFound, h.Account, h.ID)
		}
		if h.Amount <= 0 || h.State != storage.HoldActive {
			return fmt.Errorf("%w: new hold %s: amount %d, state %q (want > 0, active)", storage.ErrInvalidArgument, h.ID, h.Amount, h.State)
		}
		fresh[k] = true
	}
	updated := map[storage.AccountID]bool{}
	for _, u := range b.HoldUpdates {
		k := storage.AccountID{Account: u.Account, ID: u.ID}
		h, ok := s.holds[k]
		if !ok && fresh[k] && !updated[k] {
			updated[k] = true
			continue // a hold made and ended by one batch
		}
		if !ok || h.State != storage.HoldActive || updated[k] {
			return fmt.Errorf("%w: active hold %s of account %q", storage.ErrNotFound, u.ID, u.Account)
		}
		updated[k] = true
	}
	return nil
}

// applyHolds writes the checked holds and updates with undo records.
func (t *memTx) applyHolds(b *storage.Batch) {
	s := t.s
	for i := range b.Holds {
		h := copyHold(&b.Holds[i])
		h.ExpiresAt, h.CreatedAt = norm(h.ExpiresAt), norm(h.CreatedAt)
		k := storage.AccountID{Account: h.Account, ID: h.ID}
		s.holds[k] = &h
		prev := s.holdsOf[h.Account]
		s.holdsOf[h.Account] = append(prev[:len(prev):len(prev)], h.ID)
		t.undo = append(t.undo, func() {
			delete(s.holds, k)
			s.holdsOf[h.Account] = prev
		})
	}
	for _, u := range b.HoldUpdates {
		h := s.holds[storage.AccountID{Account: u.Account, ID: u.ID}]
		old := *h
		h.State, h.Captured, h.EndOperationID = u.State, u.Captured, u.EndOperationID
		h.EndedAt = normPtr(&u.EndedAt)
		t.undo = append(t.undo, func() { *h = old })
	}
}
