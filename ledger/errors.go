package ledger

import "github.com/creditledger/creditledger/storage"

// ErrUnknownPack: a pack id that the catalog does not have (GrantPack,
// GrantPackWith). Nothing was written.
//
// It also matches ErrNotFound, which is what an unknown pack was before
// ErrUnknownPack existed, so that a caller's errors.Is(err, ErrNotFound)
// still sees it. Code that tells an unknown account from an unknown pack
// tests ErrUnknownPack first.
var ErrUnknownPack error = &childError{msg: "creditledger: unknown pack", parent: ErrNotFound}

// childError is a sentinel that also matches a broader one, with a
// message of its own (not the parent's repeated after it).
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.parent }

// The errors a ledger returns, to be tested with errors.Is. They are the
// storage package's sentinels under their public names, so a store's
// error and the ledger's are the same value. Errors wrapping them say
// which value was wrong.
var (
	// ErrInsufficientCredits: a consume asked for more than the unexpired
	// balance. Nothing was written.
	ErrInsufficientCredits = storage.ErrInsufficientCredits
	// ErrIdempotencyConflict: a key was reused with other parameters.
	// Nothing was written.
	ErrIdempotencyConflict = storage.ErrIdempotencyConflict
	// ErrInvalidAmount: zero or negative, more decimal places than the
	// ledger's Scale, or too large for 64-bit minor units.
	ErrInvalidAmount = storage.ErrInvalidAmount
	// ErrNotFound: the account was never written to.
	ErrNotFound = storage.ErrNotFound
	// ErrInvalidArgument: an account id, idempotency key, source, cursor or
	// other parameter is empty, over-long or malformed.
	ErrInvalidArgument = storage.ErrInvalidArgument
	// ErrUnknownPlan: a plan id that the catalog does not have.
	ErrUnknownPlan = storage.ErrUnknownPlan
	// ErrScaleMismatch: the store was created with another Scale.
	ErrScaleMismatch = storage.ErrScaleMismatch
)
