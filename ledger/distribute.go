package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/creditledger/creditledger/storage"
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

// DefaultChunkSize is the number of accounts Distribute and ExpireDue
// handle per transaction.
const DefaultChunkSize = 1000

// DefaultRetryFailedAfter is how long Distribute leaves an account it
// could not serve before trying it again.
const DefaultRetryFailedAfter = time.Hour

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
// A plan with a Rollover carries what its previous period's grant left
// into the new period's grant operation, up to its cap (see rollover.go);
// a plan granted per invoice (policy.PerInvoice) gets nothing here.
//
// Once a chunk has done work, it starts no chunk that the budget or the
// context's deadline leaves no time to finish (judged by the slowest chunk
// so far) and then returns Complete false. An account whose plan is not
// in the catalog, or whose grant cannot be written, is counted in Errors
// and logged with its reason, its expired lots are still swept, and the
// run goes on; the account is tried again by the first run
// RetryFailedAfter (default an hour) later, so the calls that resume a
// budgeted run serve the others instead of meeting it first every time.
//
// A ledger without a catalog, or a catalog without a default plan for
// accounts that have none, grants nothing to those accounts and leaves
// their grant schedule as it is.
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

func (l *Ledger) run(ctx context.Context, opts *DistributeOpts, grants bool) (res *DistributeResult, err error) {
	ctx, span := l.tel.beginRun(ctx, grants)
	defer func() { span.end(ctx, res, err) }()
	var o DistributeOpts
	if opts != nil {
		o = *opts
	}
	if o.ChunkSize < 0 || o.Budget < 0 || o.RetryFailedAfter < 0 {
		return nil, fmt.Errorf("%w: ChunkSize %d, Budget %s and RetryFailedAfter %s must not be negative",
			ErrInvalidArgument, o.ChunkSize, o.Budget, o.RetryFailedAfter)
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.RetryFailedAfter == 0 {
		o.RetryFailedAfter = DefaultRetryFailedAfter
	}
	now := normTime(o.Now)
	if o.Now.IsZero() {
		now = l.clock()
	}
	if err := checkTime("Now", now); err != nil {
		return nil, err
	}
	// Without a catalog there are no plans: the run only expires, and
	// leaves every account's grant schedule as it is.
	grants = grants && l.catalog != nil
	start := time.Now()
	deadline, hasDeadline := ctx.Deadline()
	if o.Budget > 0 && (!hasDeadline || start.Add(o.Budget).Before(deadline)) {
		deadline, hasDeadline = start.Add(o.Budget), true
	}
	r := &runState{
		l: l, now: now, size: o.ChunkSize, grants: grants, retry: o.RetryFailedAfter,
		deadline: deadline, hasDeadline: hasDeadline,
		res: &DistributeResult{}, failed: map[string]bool{},
		start: start, onProgress: o.Progress,
	}
	finish := func(complete bool) *DistributeResult {
		res := r.res
		res.Complete = complete
		res.GrantedCredits = toDecimal(r.granted, l.scale)
		res.ExpiredCredits = toDecimal(r.expired, l.scale)
		res.Duration = time.Since(start)
		return res
	}
	workers := max(1, l.store.MaxParallelTx())
	// The first pass skips accounts that other transactions hold (another
	// replica's chunk, another worker's, or a consume in flight) so that
	// workers and replicas share the work. The second waits for those
	// locks, so that nothing due is left behind one; after a clean first
	// pass it finds nothing and is one query, so one worker runs it.
	for _, pass := range []struct {
		wait    bool
		workers int
	}{{false, workers}, {true, 1}} {
		stop, err := r.pass(ctx, pass.wait, pass.workers)
		if err != nil {
			return finish(false), err
		}
		if stop {
			return finish(false), nil
		}
	}
	return finish(true), nil
}

// runState is one Distribute or ExpireDue call, shared by its workers.
type runState struct {
	l           *Ledger
	now         time.Time
	size        int
	grants      bool
	retry       time.Duration
	deadline    time.Time
	hasDeadline bool

	mu               sync.Mutex
	res              *DistributeResult
	granted, expired int64
	slowest          time.Duration
	claimed          int
	// failed holds the accounts that failed in this run, so that an
	// account met twice (see the second pass) is counted and logged once.
	failed map[string]bool

	start      time.Time
	chunks     int
	onProgress func(DistributeProgress)
}

// pass walks the due accounts in keyset order with workers goroutines,
// each serving one chunk at a time from a shared cursor. It returns stop
// when the budget or the context's deadline ended the run early, and the
// first store error (or the context's cancellation).
func (r *runState) pass(ctx context.Context, wait bool, workers int) (stop bool, err error) {
	var (
		after string // the cursor: the greatest account claimed so far
		done  bool
	)
	// next says whether to start another chunk, and from where.
	next := func() (string, bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if done {
			return "", false
		}
		if cerr := ctx.Err(); cerr != nil {
			done = true
			if errors.Is(cerr, context.DeadlineExceeded) {
				stop = true
			} else if err == nil {
				err = cerr
			}
			return "", false
		}
		// Until a chunk has claimed work, chunks start whatever the
		// budget (a live context permitting), so that even a tiny budget
		// makes progress.
		if r.claimed > 0 && r.hasDeadline && time.Until(r.deadline) < r.slowest*3/2 {
			done, stop = true, true
			return "", false
		}
		return after, true
	}
	// step serves one chunk; it returns false when the pass is over.
	step := func() bool {
		from, ok := next()
		if !ok {
			return false
		}
		t0 := time.Now()
		cr, cerr := r.l.runChunk(ctx, chunkQuery{now: r.now, after: from, size: r.size, grants: r.grants, wait: wait, retry: r.retry})
		r.mu.Lock()
		if cerr != nil {
			done = true
			if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				stop = true
			} else if err == nil {
				err = fmt.Errorf("creditledger: distribution chunk after account %q: %w", from, cerr)
			}
			r.mu.Unlock()
			return false
		}
		r.slowest = max(r.slowest, time.Since(t0))
		newFailures := r.merge(&cr)
		if cr.claimed > 0 {
			r.progress(len(cr.ids))
		}
		// A skipping claim fills its limit while due accounts remain; a
		// waiting one may come back short when rows it waited for were
		// served meanwhile, so only an empty claim ends its pass.
		if cr.claimed == 0 || (!wait && cr.claimed < r.size) {
			done = true
		} else if cr.last > after {
			after = cr.last
		}
		r.mu.Unlock()
		for _, f := range newFailures {
			r.l.logger.LogAttrs(ctx, slog.LevelWarn, "creditledger: distribution could not serve an account",
				slog.String("account", f.id), slog.String("error", f.err.Error()))
		}
		return true
	}
	// The first chunk runs alone, so that the budget is judged by a
	// chunk's duration before others start (a tiny budget serves one
	// chunk per call); then workers share the rest.
	if step() {
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for step() {
				}
			}()
		}
		wg.Wait()
	}
	if err != nil {
		if stop {
			return true, nil
		}
		return false, err
	}
	return stop, nil
}

// merge adds a committed chunk to the run's result, under r.mu, and
// returns the failures not met before in this run.
func (r *runState) merge(cr *chunkResult) []failure {
	r.claimed += cr.claimed
	r.res.Granted += cr.granted
	r.res.Expired += cr.expired
	r.granted += cr.grantedMinor
	r.expired += cr.expiredMinor
	var newFailures []failure
	for _, f := range cr.failures {
		if !r.failed[f.id] {
			r.failed[f.id] = true
			newFailures = append(newFailures, f)
		}
	}
	// Accounts that failed earlier in this run were met and counted then.
	seen := 0
	for _, id := range cr.ids {
		if r.failed[id] {
			seen++
		}
	}
	accounts := len(cr.ids) - (seen - len(newFailures))
	r.res.Accounts += accounts
	r.res.Errors += len(newFailures)
	r.res.Processed += accounts - len(newFailures)
	return newFailures
}

type chunkQuery struct {
	now    time.Time
	after  string
	size   int
	grants bool
	wait   bool
	retry  time.Duration
}

type chunkResult struct {
	claimed                    int // accounts locked
	granted, expired           int
	grantedMinor, expiredMinor int64
	last                       string
	ids                        []string  // the accounts claimed
	failures                   []failure // those that could not be served
}

// failure is an account a chunk could not serve, and why.
type failure struct {
	id  string
	err error
}

// runChunk claims and serves one chunk of accounts in one transaction.
// The caller counts the accounts and failures of the chunk once it is
// committed (see runState.merge).
//
// A due account has almost never been granted its period: the grant and
// the move of NextGrantAt commit together. So the chunk first runs without
// looking its keys up (a thousand index probes saved per chunk), and only
// if one exists after all (an account moved to another plan and back
// within a period, say) does the failed transaction run again, this time
// reading which keys exist and skipping them.
func (l *Ledger) runChunk(ctx context.Context, q chunkQuery) (cr chunkResult, err error) {
	ctx, span := l.tel.beginChunk(ctx, q.grants, q.after)
	defer func() { span.end(ctx, &cr, err) }()
	cr, err = l.runChunkTx(ctx, q, true)
	if errors.Is(err, storage.ErrDuplicateKey) {
		return l.runChunkTx(ctx, q, false)
	}
	return cr, err
}

func (l *Ledger) runChunkTx(ctx context.Context, q chunkQuery, skipKeys bool) (chunkResult, error) {
	var cr chunkResult
	var applied *storage.Batch
	now := q.now
	err := l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		cr, applied = chunkResult{}, nil
		accts, err := tx.ClaimAccounts(ctx, storage.ClaimQuery{Now: now, After: q.after, Limit: q.size, Grants: q.grants, Expiry: true, Wait: q.wait})
		if err != nil {
			return err
		}
		if len(accts) == 0 {
			return nil
		}
		// The chunk's writes go straight into one batch, sized for the
		// common chunk (a grant per account, an expiry for some): no
		// batch per account, no merge, and its slices rarely grow.
		n := len(accts)
		b := &storage.Batch{
			Lots:     make([]storage.Lot, 0, n),
			Entries:  make([]storage.Entry, 0, 2*n),
			Accounts: make([]storage.AccountUpdate, 0, n),
		}
		c := &chunk{l: l, now: now, grants: q.grants, skipKeys: skipKeys, retry: q.retry, batch: b}
		jobBuf := make([]accountJob, n)
		jobs := make([]*accountJob, n)
		for i, a := range accts {
			jobs[i] = &jobBuf[i]
			c.prepareInto(jobs[i], a)
		}
		if err := c.load(ctx, tx, jobs, nil); err != nil {
			return err
		}
		cr.ids = make([]string, len(accts))
		for i, job := range jobs {
			cr.ids[i] = job.acct.ID
			err := c.stage(job)
			if err != nil {
				// Its grants could not be written: sweep and defer it
				// alone; if even that fails it is left as it was.
				err = c.stageFailed(job, err)
			}
			if err == nil {
				cr.granted += job.granted
				cr.expired += job.expired
				cr.grantedMinor += job.grantedMinor
				cr.expiredMinor += job.expiredMinor
			}
			if job.err != nil {
				cr.failures = append(cr.failures, failure{id: job.acct.ID, err: job.err})
			}
		}
		cr.claimed = len(accts)
		cr.last = accts[len(accts)-1].ID
		if b.Empty() {
			return nil
		}
		applied = b
		return applyLast(ctx, tx, b)
	})
	if err != nil {
		return chunkResult{}, err
	}
	l.tel.committed(ctx, applied)
	return cr, nil
}
