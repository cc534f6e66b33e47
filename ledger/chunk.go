package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// chunk is the work of one transaction over locked accounts: the expiry
// sweep and, with grants, what their plans owe. Distribute, ExpireDue and
// SetPlan all stage their writes through it, so the rules of what is due
// exist once.
type chunk struct {
	l      *Ledger
	now    time.Time
	grants bool
	// retry is how long an account that cannot be served is left alone
	// before a run tries it again (Distribute's RetryFailedAfter); zero
	// leaves its schedule as it is (SetPlan reports its error instead).
	retry time.Duration
	// skipKeys leaves the jobs' keys out of load: every due grant is
	// staged as new, and a key that exists fails Apply with
	// storage.ErrDuplicateKey (see runChunk).
	skipKeys bool
}

// accountJob is what one account of a chunk owes and what it wrote.
type accountJob struct {
	acct     storage.Account
	plan     *planChange // SetPlan's change, staged with the account update
	gift     bool        // propose the signup gift
	planID   string
	planDef  *policy.Plan
	dues     []dueGrant
	next     *time.Time // NextGrantAt after this chunk
	loadLots bool
	lots     []storage.Lot
	holds    []storage.Hold  // active holds, loaded with the lots
	sortLots bool            // lots of holds were added to lots
	existing map[string]bool // keys among the job's that exist
	err      error           // why the grants could not be computed
	batch    *storage.Batch

	granted, expired           int
	grantedMinor, expiredMinor int64

	// Notices read for the job's lots in their notice window (events.go).
	noticeCands, noticed []storage.AccountID
}

type dueGrant struct {
	due policy.Due
	key string
	// grantedAt is when the grant counts as made, for its expiry: now for
	// the current period, and for a back-filled one the instant it would
	// have been granted on time, so that a late run does not make missed
	// periods' credits spendable all at once.
	grantedAt time.Time
}

// prepare works out what an account owes at c.now. A plan that cannot be
// resolved is recorded in job.err: the account is still swept.
func (c *chunk) prepare(acct storage.Account) *accountJob {
	job := &accountJob{acct: acct, next: acct.NextGrantAt, loadLots: expiryDue(&acct, c.now) || acct.MultiPool}
	if !c.grants || acct.NextGrantAt == nil || acct.NextGrantAt.After(c.now) {
		return job
	}
	cat := c.l.catalog
	job.planID = acct.Plan
	if job.planID == "" && cat != nil {
		job.planID = cat.DefaultPlan
	}
	if job.planID == "" {
		// Neither a plan nor a default plan: nothing is due now. The
		// schedule is left as it is, so that a run made without the
		// catalog's default plan takes nothing away from a later run
		// with it.
		return job
	}
	plan, ok := cat.Plan(job.planID)
	if !ok {
		job.err = fmt.Errorf("account %q: %w: %q", acct.ID, ErrUnknownPlan, job.planID)
		return job
	}
	job.planDef = plan
	if plan.Allocation == nil {
		job.next = nil
		return job
	}
	loc := cat.Loc()
	pa := policy.Account{ID: acct.ID, Plan: job.planID, Anchor: acct.Anchor, CreatedAt: acct.CreatedAt}
	cur, ok := plan.Allocation.Allocate(pa, c.now, loc)
	if !ok {
		job.next = nil
		return job
	}
	if !inRange(cur.Period.End) {
		job.err = checkTime(fmt.Sprintf("account %q: next grant of plan %q", acct.ID, job.planID), cur.Period.End)
		return job
	}
	if cat.Backfill {
		// Every period from the one that was due up to the current one,
		// each as if granted on time: when it became due.
		for t := *acct.NextGrantAt; len(job.dues) < maxBackfill; {
			d, ok := plan.Allocation.Allocate(pa, t, loc)
			if !ok || !d.Period.Start.Before(cur.Period.Start) || !d.Period.End.After(t) {
				break
			}
			job.dues = append(job.dues, dueGrant{due: d, key: planKey(job.planID, acct.ID, d.Period), grantedAt: later(t, d.Period.Start)})
			t = d.Period.End
		}
	}
	job.dues = append(job.dues, dueGrant{due: cur, key: planKey(job.planID, acct.ID, cur.Period), grantedAt: c.now})
	end := cur.Period.End
	job.next = &end
	return job
}

// keys returns the idempotency keys the job may write.
func (job *accountJob) keys() []storage.AccountKey {
	var keys []storage.AccountKey
	if job.gift {
		keys = append(keys, storage.AccountKey{Account: job.acct.ID, Key: giftKey(job.acct.ID)})
	}
	for _, d := range job.dues {
		keys = append(keys, storage.AccountKey{Account: job.acct.ID, Key: d.key})
	}
	return keys
}

// load reads, in one call, the open lots of the jobs that need a sweep
// and which of their keys exist.
func (c *chunk) load(ctx context.Context, tx storage.Tx, jobs []*accountJob, extraKeys []storage.AccountKey) error {
	q := storage.LoadQuery{Keys: extraKeys}
	byID := make(map[string]*accountJob, len(jobs))
	for _, job := range jobs {
		byID[job.acct.ID] = job
		job.existing = map[string]bool{}
		if job.loadLots {
			q.LotsOf = append(q.LotsOf, job.acct.ID)
			q.HoldsOf = append(q.HoldsOf, job.acct.ID)
		}
		if job.err == nil && !c.skipKeys {
			q.Keys = append(q.Keys, job.keys()...)
		}
	}
	if len(q.Keys) == 0 && len(q.LotsOf) == 0 {
		return nil
	}
	loaded, err := tx.Load(ctx, q)
	if err != nil {
		return err
	}
	for _, lot := range loaded.Lots {
		if job := byID[lot.Account]; job != nil {
			job.lots = append(job.lots, lot)
		}
	}
	for _, op := range loaded.Operations {
		if job := byID[op.Account]; job != nil {
			job.existing[op.Key] = true
		}
	}
	if err := c.loadHolds(ctx, tx, byID, loaded.Holds); err != nil {
		return err
	}
	return c.loadNotices(ctx, tx, jobs)
}

// loadNotices reads, in one call, the notices of the jobs' lots in their
// notice window.
func (c *chunk) loadNotices(ctx context.Context, tx storage.Tx, jobs []*accountJob) error {
	var all []storage.AccountID
	for _, job := range jobs {
		if !job.loadLots {
			continue
		}
		lots := make([]*storage.Lot, len(job.lots))
		for i := range job.lots {
			lots[i] = &job.lots[i]
		}
		job.noticeCands = c.l.noticeCandidates(lots, c.now)
		all = append(all, job.noticeCands...)
	}
	if len(all) == 0 {
		return nil
	}
	loaded, err := tx.Load(ctx, storage.LoadQuery{Notices: all})
	if err != nil {
		return err
	}
	byAccount := map[string]*accountJob{}
	for _, job := range jobs {
		byAccount[job.acct.ID] = job
	}
	for _, n := range loaded.Notices {
		if job := byAccount[n.Account]; job != nil {
			job.noticed = append(job.noticed, n)
		}
	}
	return nil
}

// stage computes the job's writes into job.batch. An error means this
// account cannot be written; other accounts of the chunk can.
func (c *chunk) stage(job *accountJob) error {
	w := c.l.newWriter(job.acct, job.lots, job.loadLots, c.now)
	if job.loadLots {
		w.setHolds(job.holds)
		w.setNotices(job.noticeCands, job.noticed)
	}
	n, minor, err := w.sweep()
	if err != nil {
		return err
	}
	job.expired, job.expiredMinor = n, minor
	if job.plan != nil {
		// Before the grants it makes due, so the history reads in order.
		if err := w.planEntry(job.plan); err != nil {
			return err
		}
	}
	switch {
	case job.err == nil:
		if err := c.stageGrants(w, job); err != nil {
			return err
		}
		if !timeEqual(job.next, job.acct.NextGrantAt) {
			w.acct.NextGrantAt = job.next
			w.changed = true
		}
	case c.retry > 0 && job.acct.NextGrantAt != nil && !job.acct.NextGrantAt.After(c.now):
		// An account that cannot be served is left alone for a while, so
		// that runs resuming within a budget go on with the others
		// instead of meeting it first every time. It is retried (and
		// counted and logged again) by the first run after that.
		retry := c.now.Add(c.retry)
		w.acct.NextGrantAt = &retry
		w.changed = true
	}
	job.batch = w.finish(job.plan)
	return nil
}

// stageFailed is stage for a job whose grants could not be staged: it
// sweeps and defers the account as stage does for a job.err.
func (c *chunk) stageFailed(job *accountJob, err error) error {
	job.err, job.dues, job.gift = err, nil, false
	job.granted, job.grantedMinor = 0, 0
	return c.stage(job)
}

func (c *chunk) stageGrants(w *accountWriter, job *accountJob) error {
	if job.gift && !job.existing[giftKey(job.acct.ID)] {
		g := c.l.catalog.SignupGift
		amount, err := toMinor(g.Amount, c.l.scale, true)
		if err != nil {
			return err
		}
		source := g.Source
		if source == "" {
			source = "register_gift"
		}
		if err := c.grantOnce(w, job, giftKey(job.acct.ID), amount, grantSpec{
			source:      source,
			expiresAt:   expiresAt(g.Expiry, c.now, zeroPeriod),
			description: "signup gift",
			pool:        g.Pool,
		}); err != nil {
			return err
		}
	}
	for _, d := range job.dues {
		if job.existing[d.key] {
			continue
		}
		amount, err := toMinor(d.due.Amount, c.l.scale, true)
		if err != nil {
			return fmt.Errorf("plan %q: %w", job.planID, err)
		}
		exp := expiresAt(job.planDef.Expiry, d.grantedAt, d.due.Period)
		if exp != nil && !exp.After(c.now) {
			continue // a back-filled period whose credits would already be expired
		}
		if exp != nil && !inRange(*exp) {
			return checkTime(fmt.Sprintf("plan %q: expiry of period %s", job.planID, d.due.Period.Key), *exp)
		}
		if err := c.grantOnce(w, job, d.key, amount, grantSpec{
			source:      d.due.Source,
			priority:    job.planDef.Priority,
			expiresAt:   exp,
			description: "plan " + job.planID + " period " + d.due.Period.Key,
		}); err != nil {
			return err
		}
	}
	return nil
}

// grantOnce stages a ledger-made grant under its own keyed operation.
func (c *chunk) grantOnce(w *accountWriter, job *accountJob, key string, amount int64, g grantSpec) error {
	g.amount = amount
	hash := new(paramHash).str(job.acct.ID).int(amount).str(g.source).time(g.expiresAt).int(int64(g.priority)).sum()
	opIdx := w.op(storage.KindGrant, key, hash)
	if _, err := w.grant(opIdx, g); err != nil {
		return err
	}
	w.setAvailable(opIdx)
	job.existing[key] = true
	job.granted++
	job.grantedMinor += amount
	return nil
}

func expiresAt(e policy.Expiry, granted time.Time, p policy.Period) *time.Time {
	if e == nil {
		return nil
	}
	return normPtr(e.ExpiresAt(granted, p))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
