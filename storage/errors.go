package storage

import "errors"

// Sentinel errors shared by the ledger and every store. The ledger package
// re-exports them under the same names; test with errors.Is.
var (
	// ErrNotFound: the account, operation or other record does not exist.
	ErrNotFound = errors.New("creditledger: not found")
	// ErrInsufficientCredits: a consume asked for more than the account's
	// unexpired balance. Nothing was written.
	ErrInsufficientCredits = errors.New("creditledger: insufficient credits")
	// ErrIdempotencyConflict: an idempotency key was reused with other
	// parameters. Nothing was written.
	ErrIdempotencyConflict = errors.New("creditledger: idempotency key reused with other parameters")
	// ErrInvalidAmount: an amount is zero or negative where a positive one
	// is needed, has more decimal places than the ledger's scale, or does
	// not fit in 64-bit minor units. Nothing was written.
	ErrInvalidAmount = errors.New("creditledger: invalid amount")
	// ErrInvalidArgument: an account id, key, source or other parameter is
	// empty, too long or malformed. Nothing was written.
	ErrInvalidArgument = errors.New("creditledger: invalid argument")
	// ErrUnknownPlan: a plan id is not in the catalog.
	ErrUnknownPlan = errors.New("creditledger: unknown plan")
	// ErrScaleMismatch: a store holds amounts of another scale than the
	// ledger opening it.
	ErrScaleMismatch = errors.New("creditledger: scale mismatch")
	// ErrDuplicateKey: a store was asked to insert an operation whose
	// idempotency key exists. The ledger turns it into a replay or an
	// ErrIdempotencyConflict; hosts do not see it.
	ErrDuplicateKey = errors.New("creditledger: duplicate idempotency key")
)
