package ledger

import (
	"time"

	"github.com/shopspring/decimal"
)

// DistributeProgress is what DistributeOpts.Progress is told after each
// chunk a run commits: the run's totals so far.
type DistributeProgress struct {
	Accounts  int // accounts examined so far
	Processed int // of which done without error
	Errors    int // of which failed
	Granted   int // lots granted so far
	Expired   int // lots expired so far

	GrantedCredits decimal.Decimal
	ExpiredCredits decimal.Decimal

	// Remaining is the number of due accounts left, or -1 when unknown.
	// The stores do not count due accounts ahead of a run (that would cost
	// a scan of its own), so it is -1 today; a progress display should
	// treat the total as open.
	Remaining int
	// Chunks is the number of chunks committed so far, ChunkAccounts the
	// accounts of the chunk just committed.
	Chunks, ChunkAccounts int
	// Elapsed is the time since the run started.
	Elapsed time.Duration
}

// progress tells the run's Progress callback about a committed chunk of
// n accounts. The caller holds r.mu, so calls are serialized and their
// totals never go back.
func (r *runState) progress(n int) {
	r.chunks++
	if r.onProgress == nil {
		return
	}
	r.onProgress(DistributeProgress{
		Accounts:       r.res.Accounts,
		Processed:      r.res.Processed,
		Errors:         r.res.Errors,
		Granted:        r.res.Granted,
		Expired:        r.res.Expired,
		GrantedCredits: toDecimal(r.granted, r.l.scale),
		ExpiredCredits: toDecimal(r.expired, r.l.scale),
		Remaining:      -1,
		Chunks:         r.chunks,
		ChunkAccounts:  n,
		Elapsed:        time.Since(r.start),
	})
}
