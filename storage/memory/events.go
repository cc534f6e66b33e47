package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// The outbox: events in insertion order (ascending Seq), and the lots
// noticed. Transactions are serialized, so a claim never meets another:
// the claim rule (storage/events.go) reduces to handing out, per account,
// a prefix of its unacknowledged events that starts with one not leased.

func (t *memTx) checkEvents(b *storage.Batch) error {
	for _, e := range b.Events {
		if _, ok := t.s.accounts[e.Account]; !ok {
			return fmt.Errorf("%w: account %q of event %s", storage.ErrNotFound, e.Account, e.ID)
		}
		if e.ID == "" || e.Type == "" {
			return fmt.Errorf("%w: event of account %q without an id or a type", storage.ErrInvalidArgument, e.Account)
		}
	}
	return nil
}

func (t *memTx) applyEvents(b *storage.Batch) {
	s := t.s
	if len(b.Events) > 0 {
		// Appended in place: an undo cuts the slice back (nothing outside
		// a transaction sees past its length), so a write costs its own
		// events, not a copy of the outbox.
		n, prevSeq := len(s.events), s.eventSeq
		for _, e := range b.Events {
			s.eventSeq++
			e.Seq = s.eventSeq
			e.At = norm(e.At)
			e.LeasedUntil, e.AckedAt, e.Attempts = nil, nil, 0
			s.events = append(s.events, &e)
		}
		t.undo = append(t.undo, func() { s.events, s.eventSeq = s.events[:n], prevSeq })
	}
	for _, n := range b.Notices {
		if s.notices[n] {
			continue
		}
		s.notices[n] = true
		t.undo = append(t.undo, func() { delete(s.notices, n) })
	}
}

func (t *memTx) loadNotices(q storage.LoadQuery, out *storage.Loaded) {
	for _, n := range q.Notices {
		if t.s.notices[n] {
			out.Notices = append(out.Notices, n)
		}
	}
}

// ClaimEvents leases events by the claim rule, oldest first.
func (s *Store) ClaimEvents(ctx context.Context, q storage.EventClaim) ([]storage.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 || q.Lease <= 0 {
		return nil, fmt.Errorf("%w: claim of %d events for %s", storage.ErrInvalidArgument, q.Limit, q.Lease)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := norm(q.Now)
	until := now.Add(q.Lease)
	// blocked: accounts whose first unacknowledged event is leased to
	// another claimer, or whose events were cut off by the limit.
	blocked := map[string]bool{}
	var out []storage.Event
	for _, e := range s.events {
		if e.AckedAt != nil || blocked[e.Account] {
			continue
		}
		if e.Leased(now) || len(out) == q.Limit {
			blocked[e.Account] = true
			continue
		}
		e.LeasedUntil = &until
		e.Attempts++
		out = append(out, *e)
	}
	return out, nil
}

// AckEvents marks events acknowledged.
func (s *Store) AckEvents(ctx context.Context, events []storage.AccountID, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[storage.AccountID]bool, len(events))
	for _, e := range events {
		want[e] = true
	}
	at := norm(now)
	n := 0
	for _, e := range s.events {
		if e.AckedAt == nil && want[storage.AccountID{Account: e.Account, ID: e.ID}] {
			e.AckedAt, e.LeasedUntil = &at, nil
			n++
		}
	}
	return n, nil
}

// PruneEvents deletes events acknowledged before ackedBefore.
func (s *Store) PruneEvents(ctx context.Context, ackedBefore time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	kept := s.events[:0:0]
	for _, e := range s.events {
		if n < limit && e.AckedAt != nil && e.AckedAt.Before(ackedBefore) {
			n++
			continue
		}
		kept = append(kept, e)
	}
	s.events = kept
	for k := range s.notices {
		if lot := s.lots[k.ID]; lot != nil && lot.ExpiresAt != nil && lot.ExpiresAt.Before(ackedBefore) {
			delete(s.notices, k)
		}
	}
	return n, nil
}

// Events lists events newest first.
func (s *Store) Events(ctx context.Context, q storage.EventQuery) ([]storage.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Event
	for i := len(s.events) - 1; i >= 0 && len(out) < q.Limit; i-- {
		e := s.events[i]
		if (q.Account != "" && e.Account != q.Account) || (q.BeforeSeq > 0 && e.Seq >= q.BeforeSeq) ||
			(q.Unacked && e.AckedAt != nil) {
			continue
		}
		out = append(out, *e)
	}
	return out, nil
}

// EventStats sums up the outbox.
func (s *Store) EventStats(ctx context.Context, now time.Time) (*storage.EventStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &storage.EventStats{}
	for _, e := range s.events {
		if e.AckedAt != nil {
			continue
		}
		leased := e.Leased(now)
		if leased {
			st.Leased++
		} else {
			st.Pending++
		}
		if e.Attempts > 1 || (e.Attempts > 0 && !leased) {
			st.Failed++
		}
		if st.OldestUnacked == nil || e.At.Before(*st.OldestUnacked) {
			at := e.At
			st.OldestUnacked = &at
		}
	}
	return st, nil
}
