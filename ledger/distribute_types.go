package ledger

import (
	"time"

	"github.com/shopspring/decimal"
)

// DistributeOpts are the options of one Distribute call. Nil means the
// defaults.
type DistributeOpts struct {
	// Now is the instant the run works at. Zero: the ledger's clock.
	Now time.Time
	// Budget bounds the run's duration: no chunk is started that the
	// budget (or the context's deadline) leaves no time to finish. Zero:
	// until done or the context ends.
	Budget time.Duration
	// ChunkSize is the number of accounts per transaction. Zero: 1000.
	ChunkSize int
	// RetryFailedAfter is how long an account that this run cannot serve
	// (its plan is not in the catalog, say) is left before a run tries it
	// again; until then runs pass it by. Zero: DefaultRetryFailedAfter
	// (an hour). Back-fill does not count the periods an account spends
	// failing.
	RetryFailedAfter time.Duration
	// Progress, when set, is called after each chunk that the run commits
	// and that examined accounts, with the run's totals so far (see
	// DistributeProgress). Calls never overlap, even when chunks run in
	// parallel, and hold up the run's other workers while they last: keep
	// it quick (print a line, move a bar). Nil: no calls.
	Progress func(DistributeProgress)
}

// DistributeResult reports one Distribute call.
type DistributeResult struct {
	Accounts  int // accounts examined
	Processed int // accounts done without error
	Errors    int // accounts that failed (each logged with its reason)
	Granted   int // lots granted by this call
	Expired   int // lots expired by this call

	GrantedCredits decimal.Decimal
	ExpiredCredits decimal.Decimal

	// Complete is false when the budget or context stopped the run with
	// work left; the next call goes on where this one stopped.
	Complete bool
	Duration time.Duration
}
