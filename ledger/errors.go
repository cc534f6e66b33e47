package ledger

import (
	"errors"
	"fmt"

	"github.com/creditledger/creditledger/storage"
)

// ErrUnknownPack: a pack id that the catalog does not have (GrantPack,
// GrantPackWith). Nothing was written.
//
// It also matches ErrNotFound, which is what an unknown pack was before
// ErrUnknownPack existed, so that a caller's errors.Is(err, ErrNotFound)
// still sees it. Code that tells an unknown account from an unknown pack
// tests ErrUnknownPack first.
var ErrUnknownPack error = &multiError{msg: "creditledger: unknown pack", errs: []error{ErrNotFound}}

// multiError is an error with a message of its own that matches each of
// errs with errors.Is: a sentinel that also matches a broader one, or an
// error that is two things at once (insufficient credits because the
// account does not exist). fmt.Errorf("%w: ...: %w") would repeat each
// sentinel's "creditledger:" prefix in the message.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }

// errNoCredits is the error of a consume or hold on an account never
// written to: ErrInsufficientCredits and ErrNotFound at once.
func errNoCredits(account string) error {
	return &multiError{
		msg:  fmt.Sprintf("%v: account %q has no credits (it was never written to)", ErrInsufficientCredits, account),
		errs: []error{ErrInsufficientCredits, ErrNotFound},
	}
}

// accountError is how a read reports that the store could not find an
// account: in the ledger's words for ErrNotFound, since a store's own
// ("bunstore: account "x": creditledger: not found") names the account
// and the package twice; any other error as the store gave it. errors.Is
// and errors.As still see the store's error.
func accountError(account string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return &multiError{msg: fmt.Sprintf("%v: account %q", ErrNotFound, account), errs: []error{err}}
	}
	return err
}

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
