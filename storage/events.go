package storage

import (
	"context"
	"time"
)

// The outbox: events the ledger stages into a Batch (Batch.Events), written
// in the transaction of the write that caused them, and the calls that
// deliver them (EventStore).
//
// Order. A store gives each event it inserts a Seq greater than that of
// every event inserted before it into the same account (a SQL store takes
// it from one sequence, so it also grows overall, in the order the
// inserting transactions took their values). Since every write locks its
// account, an account's events get increasing Seq in the order they were
// written. Seq orders; ID (made by the ledger) names.
//
// Delivery state. An event is pending (never claimed, or its lease has
// ended), leased (LeasedUntil after now) or acknowledged (AckedAt set).
// Attempts counts the claims that handed it out.
//
// The claim rule (ClaimEvents), per account: an event is handed out only
// together with every unacknowledged event of its account that precedes
// it, so a claim returns, for each account, a prefix of its unacknowledged
// events, and nothing of an account whose first unacknowledged event is
// leased to someone else (or being claimed by a concurrent claim). Two
// claims therefore never hold an account's events at once, and a consumer
// that acknowledges what it delivered before claiming again sees each
// account's events in order.

// Event is one event of the outbox.
type Event struct {
	// Seq is assigned by the store on insert (what a Batch gives is
	// ignored): see the order above.
	Seq         int64
	ID          string
	Account     string
	Pool        string // "" for the default pool
	Type        string
	OperationID string // the operation that caused it
	LotID       string // the lot, for credits.* events; "" otherwise
	Amount      int64  // what moved, >= 0, in minor units
	Balance     int64  // the pool's available balance after the write
	At          time.Time

	// Delivery state, set by the store (what a Batch gives is ignored).
	LeasedUntil *time.Time
	Attempts    int
	AckedAt     *time.Time
}

// EventClaim is what ClaimEvents leases.
type EventClaim struct {
	Now   time.Time     // the ledger's clock: leases end at Now + Lease
	Limit int           // at most this many events (> 0)
	Lease time.Duration // how long the claimer holds them (> 0)
}

// EventQuery selects events to list, newest first (by descending Seq).
type EventQuery struct {
	Account   string // "" for every account
	BeforeSeq int64  // 0: from the newest
	Limit     int    // > 0
	// Unacked leaves out acknowledged events.
	Unacked bool
}

// EventStats sum up the outbox at an instant.
type EventStats struct {
	Pending int64 // unacknowledged and not leased at Now
	Leased  int64 // unacknowledged and leased at Now
	// Failed counts unacknowledged events that were handed out before
	// and not acknowledged in their lease (Attempts > 1, or > 0 and not
	// leased now): deliveries that failed.
	Failed int64
	// OldestUnacked is the At of the oldest unacknowledged event; nil
	// when none.
	OldestUnacked *time.Time
}

// EventStore is the part of Store that delivers the outbox.
type EventStore interface {
	// ClaimEvents leases up to q.Limit unacknowledged events that are not
	// leased at q.Now (never claimed, or their lease ended), by the claim
	// rule above, setting LeasedUntil to q.Now + q.Lease and adding one to
	// Attempts, and returns them (with their new state) by ascending Seq.
	// Concurrent claims share the work: events another claim holds or is
	// claiming are skipped (SKIP LOCKED), never waited for. A claim may
	// come back short of q.Limit while more events are pending (an account
	// left out by the claim rule); it returns none only when none can be
	// handed out, or all that can are being claimed by concurrent claims.
	// Events behind a leased event of their account are not candidates,
	// so a limit is never used up by an account that is held back.
	ClaimEvents(ctx context.Context, q EventClaim) ([]Event, error)
	// AckEvents marks the named events acknowledged at now, whoever holds
	// their lease, and returns how many it marked; unknown and already
	// acknowledged ones are left as they are.
	AckEvents(ctx context.Context, events []AccountID, now time.Time) (int, error)
	// PruneEvents deletes at most limit events acknowledged before
	// ackedBefore, and returns how many it deleted.
	PruneEvents(ctx context.Context, ackedBefore time.Time, limit int) (int, error)
	// Events lists events by q, with their delivery state.
	Events(ctx context.Context, q EventQuery) ([]Event, error)
	// EventStats sums up the outbox at now.
	EventStats(ctx context.Context, now time.Time) (*EventStats, error)
}

// LotNotice records that a lot's credits.expiring event was written: one
// per lot, ever (Batch.Notices; LoadQuery.Notices reads them back).
type LotNotice = AccountID

// Leased reports whether the event is leased at now.
func (e *Event) Leased(now time.Time) bool {
	return e.AckedAt == nil && e.LeasedUntil != nil && e.LeasedUntil.After(now)
}
