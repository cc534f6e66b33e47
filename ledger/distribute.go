package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"log/slog"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/storage"
)

// DefaultChunkSize is the number of accounts Distribute and ExpireDue
// handle per transaction.
const DefaultChunkSize = 1000

// Distribute is the daily job: it expires every lot that is due, then
// grants what each account's plan owes for the current period (the
// catalog's default plan for accounts without one).
//
// It walks the accounts that need work in ID order, in chunks of
// ChunkSize, one transaction per chunk with a few set-based statements
// each, so its memory does not grow with the number of accounts. Each
// account's "next grant at" and "next expiry at" are kept in the store,
// so a run that stops (budget, deadline, crash) leaves the rest due, and
// the next call goes on with it. Grants are keyed by plan, account and
// period: whatever runs overlap or repeat, a period is granted once.
// Several processes may call Distribute at once on one database: chunks
// are claimed with row locks that others skip, so they share the work.
//
// Once a chunk has done work, it starts no chunk that the budget or the
// context's deadline leaves no time to finish (judged by the slowest chunk
// so far) and then returns Complete false. An account whose plan is not in the catalog, or whose
// grant cannot be written, is counted in Errors and logged with its
// reason; it stays due, and the run goes on.
//
// Errors: a store failure ends the run with the error and the result so
// far (the failed chunk wrote nothing). A cancelled context returns the
// result so far and ctx.Err(); a context whose deadline is reached
// returns Complete false and no error.
func (l *Ledger) Distribute(ctx context.Context, opts *DistributeOpts) (*DistributeResult, error) {
	return l.run(ctx, opts, true)
}

// ExpireResult reports one ExpireDue call.
type ExpireResult struct {
	Accounts       int // accounts examined
	Expired        int // lots expired
	ExpiredCredits decimal.Decimal
	Complete       bool
	Duration       time.Duration
}

// ExpireDue writes an expire entry for the remaining credits of every lot
// that has expired, and nothing else. Distribute does this too; ExpireDue
// is for hosts that grant only by payments. Expired lots are never
// spendable anyway; the sweep makes the history and booked balances say
// so.
func (l *Ledger) ExpireDue(ctx context.Context) (*ExpireResult, error) {
	r, err := l.run(ctx, nil, false)
	if r == nil {
		return nil, err
	}
	return &ExpireResult{
		Accounts:       r.Accounts,
		Expired:        r.Expired,
		ExpiredCredits: r.ExpiredCredits,
		Complete:       r.Complete,
		Duration:       r.Duration,
	}, err
}

func (l *Ledger) run(ctx context.Context, opts *DistributeOpts, grants bool) (*DistributeResult, error) {
	var o DistributeOpts
	if opts != nil {
		o = *opts
	}
	if o.ChunkSize < 0 || o.Budget < 0 {
		return nil, fmt.Errorf("%w: ChunkSize %d and Budget %s must not be negative", ErrInvalidArgument, o.ChunkSize, o.Budget)
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	now := normTime(o.Now)
	if o.Now.IsZero() {
		now = l.clock()
	}
	start := time.Now()
	deadline, hasDeadline := ctx.Deadline()
	if o.Budget > 0 && (!hasDeadline || start.Add(o.Budget).Before(deadline)) {
		deadline, hasDeadline = start.Add(o.Budget), true
	}
	var granted, expired int64
	res := &DistributeResult{}
	finish := func(complete bool) *DistributeResult {
		res.Complete = complete
		res.GrantedCredits = toDecimal(granted, l.scale)
		res.ExpiredCredits = toDecimal(expired, l.scale)
		res.Duration = time.Since(start)
		return res
	}
	var slowest time.Duration
	claimed := 0
	// Errors of this run by account, so that an account met twice (see
	// the second pass) is counted and logged once.
	failed := map[string]bool{}
	// The first pass skips accounts that other transactions hold (another
	// replica's chunk, or a consume in flight) so replicas share the work.
	// The second waits for those locks, so that nothing due is left behind
	// one; after a clean first pass it finds nothing and is one query.
	for _, wait := range []bool{false, true} {
		after := ""
		for {
			if err := ctx.Err(); err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					return finish(false), nil
				}
				return finish(false), err
			}
			// Until a chunk has claimed work, chunks start whatever the
			// budget (a live context permitting), so that even a tiny budget
			// makes progress.
			if claimed > 0 && hasDeadline && time.Until(deadline) < slowest*3/2 {
				return finish(false), nil
			}
			t0 := time.Now()
			cr, err := l.runChunk(ctx, chunkQuery{now: now, after: after, size: o.ChunkSize, grants: grants, wait: wait}, failed)
			if err != nil {
				if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return finish(false), nil
				}
				return finish(false), fmt.Errorf("creditledger: distribution chunk after account %q: %w", after, err)
			}
			slowest = max(slowest, time.Since(t0))
			claimed += cr.claimed
			res.Accounts += cr.accounts
			res.Processed += cr.accounts - cr.errors
			res.Errors += cr.errors
			res.Granted += cr.granted
			res.Expired += cr.expired
			granted += cr.grantedMinor
			expired += cr.expiredMinor
			// A skipping claim fills its limit while due accounts remain; a
			// waiting one may come back short when rows it waited for were
			// served meanwhile, so only an empty claim ends its pass.
			if cr.claimed == 0 || (!wait && cr.claimed < o.ChunkSize) {
				break
			}
			after = cr.last
		}
	}
	return finish(true), nil
}

type chunkQuery struct {
	now    time.Time
	after  string
	size   int
	grants bool
	wait   bool
}

type chunkResult struct {
	claimed                            int // accounts locked
	accounts, errors, granted, expired int // of those, the ones not met before in this run
	grantedMinor, expiredMinor         int64
	last                               string
}

// runChunk claims and serves one chunk of accounts in one transaction.
// failed holds the accounts that failed earlier in the run: they are not
// counted again.
func (l *Ledger) runChunk(ctx context.Context, q chunkQuery, failed map[string]bool) (chunkResult, error) {
	var cr chunkResult
	var newFailures []*accountJob
	now := q.now
	err := l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		cr, newFailures = chunkResult{}, nil
		accts, err := tx.ClaimAccounts(ctx, storage.ClaimQuery{Now: now, After: q.after, Limit: q.size, Grants: q.grants, Expiry: true, Wait: q.wait})
		if err != nil {
			return err
		}
		if len(accts) == 0 {
			return nil
		}
		c := &chunk{l: l, now: now, grants: q.grants}
		jobs := make([]*accountJob, len(accts))
		for i, a := range accts {
			jobs[i] = c.prepare(a)
		}
		if err := c.load(ctx, tx, jobs, nil); err != nil {
			return err
		}
		b := &storage.Batch{}
		for _, job := range jobs {
			if err := c.stage(job); err != nil {
				job.err = err
			} else {
				merge(b, job.batch)
				cr.granted += job.granted
				cr.expired += job.expired
				cr.grantedMinor += job.grantedMinor
				cr.expiredMinor += job.expiredMinor
			}
			if failed[job.acct.ID] {
				continue // met and counted before in this run
			}
			cr.accounts++
			if job.err != nil {
				cr.errors++
				newFailures = append(newFailures, job)
			}
		}
		cr.claimed = len(accts)
		cr.last = accts[len(accts)-1].ID
		if b.Empty() {
			return nil
		}
		return tx.Apply(ctx, b)
	})
	if err != nil {
		return chunkResult{}, err
	}
	for _, job := range newFailures {
		failed[job.acct.ID] = true
		l.logger.LogAttrs(ctx, slog.LevelWarn, "creditledger: distribution could not serve an account",
			slog.String("account", job.acct.ID), slog.String("error", job.err.Error()))
	}
	return cr, nil
}
