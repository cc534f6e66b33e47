package storage

import "time"

// The kinds of entries holds and reversals write.
const (
	// KindHold: credits a hold took from a lot (negative). The entry's
	// OperationID is the hold's ID and its ExpiresAt the hold's expiry.
	KindHold EntryKind = "hold"
	// KindRelease: held credits given back to their lot (positive), when
	// a hold is released, expires or is captured (a capture releases
	// every line, then spends). Ref is the hold's ID.
	KindRelease EntryKind = "release"
	// KindCapture: held credits spent by a capture (negative), after
	// their release. Ref is the hold's ID.
	KindCapture EntryKind = "capture"
	// KindReverse: a reversal; negative for a grant's, positive for a
	// consume's or capture's. Ref is the reversed operation's ID.
	KindReverse EntryKind = "reverse"
)

// HoldState is where a hold is in its life.
type HoldState string

// The states of a hold. Only an active hold changes, once, to another.
const (
	HoldActive   HoldState = "active"
	HoldCaptured HoldState = "captured"
	HoldReleased HoldState = "released"
	HoldExpired  HoldState = "expired"
)

// Hold is a reservation of credits. The credits it holds were debited
// from their lots by its hold entries (one per line), so a lot's Remaining
// never includes them; when the hold ends, release entries give them back.
// A hold whose ExpiresAt is at or before an instant is expired at that
// instant, whether or not a write has recorded it (State stays HoldActive
// until one does).
type Hold struct {
	ID      string // the operation ID of the call that made it
	Account string
	Amount  int64 // held at creation
	// Captured is what a capture spent (0 unless State is HoldCaptured).
	Captured  int64
	State     HoldState
	ExpiresAt time.Time
	CreatedAt time.Time
	// EndedAt is when a capture, a release or its expiry ended it; nil
	// while active. EndOperationID is the operation that recorded it.
	EndedAt        *time.Time
	EndOperationID string
	Lines          []HoldLine // what it took from each lot, in burn order
	// Pool is the credit pool whose lots the hold took from ("" is the
	// default pool).
	Pool string
}

// Active reports whether the hold holds its credits at now: not ended, and
// not expired (a hold expiring at now is expired).
func (h *Hold) Active(now time.Time) bool {
	return h.State == HoldActive && h.ExpiresAt.After(now)
}

// HoldLine is what a hold took from one lot.
type HoldLine struct {
	LotID  string
	Amount int64 // > 0
}

// HoldUpdate ends an active hold. A store refuses (ErrNotFound) to update
// a hold that does not exist or is no longer HoldActive.
type HoldUpdate struct {
	Account        string
	ID             string
	State          HoldState // HoldCaptured, HoldReleased or HoldExpired
	Captured       int64
	EndedAt        time.Time
	EndOperationID string
}

// LotCredit raises a lot's remaining by Amount (> 0): credits given back
// by a release or a reversal. A lot's remaining never exceeds its amount.
type LotCredit struct {
	Account string
	LotID   string
	Amount  int64
}

// HoldQuery selects holds of one account.
type HoldQuery struct {
	Account string
	// ID selects one hold ("" for all).
	ID string
	// OnlyActive keeps the holds whose State is HoldActive (expired or
	// not: the caller compares ExpiresAt with its clock).
	OnlyActive bool
}
