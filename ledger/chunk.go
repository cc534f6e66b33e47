package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

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
	// batch, when set, is the chunk's one batch: stage appends every
	// job's writes to it directly (Distribute, ExpireDue). Nil: each job
	// gets a batch of its own in job.batch (SetPlan).
	batch *storage.Batch
	// minors are the plan amounts converted to minor units so far: a
	// chunk's accounts share a few plans, and the conversion allocates.
	minors []minorAmount
}

type minorAmount struct {
	amount decimal.Decimal
	minor  int64
}

// minor is toMinor(amount, scale, true), remembered for the chunk. A
// failed conversion is not remembered (it fails again, the same way).
func (c *chunk) minor(amount decimal.Decimal) (int64, error) {
	for _, m := range c.minors {
		if m.amount.Equal(amount) {
			return m.minor, nil
		}
	}
	v, err := toMinor(amount, c.l.scale, true)
	if err != nil {
		return 0, err
	}
	if len(c.minors) < 8 {
		c.minors = append(c.minors, minorAmount{amount, v})
	}
	return v, nil
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
	existing map[string]bool // keys among the job's that exist; nil: none (made by load only when one does)
	// Rollover (rollover.go): the previous periods' grant operations by
	// key, what the store has of them, and the keys this job staged.
	prevOps     map[string]string
	prevEntries map[string][]storage.Entry
	staged      map[string]string
	err         error          // why the grants could not be computed
	batch       *storage.Batch // the job's writes, when the chunk has no batch of its own
	duesBuf     [1]dueGrant    // dues' first element without an allocation of its own

	granted, expired           int
	grantedMinor, expiredMinor int64

	// Notices read for the job's lots in their notice window (events.go).
	noticeCands, noticed []storage.AccountID
}

type dueGrant struct {
	due policy.Due
	key string
	// prevKey is the key of the previous period's grant, when the plan
	// rolls over and the periods are contiguous; "" otherwise.
	prevKey    string
	prevPeriod string
	// grantedAt is when the grant counts as made, for its expiry: now for
	// the current period, and for a back-filled one the instant it would
	// have been granted on time, so that a late run does not make missed
	// periods' credits spendable all at once.
	grantedAt time.Time
}

// prepare works out what an account owes at c.now. A plan that cannot be
// resolved is recorded in job.err: the account is still swept.
func (c *chunk) prepare(acct storage.Account) *accountJob {
	job := &accountJob{}
	c.prepareInto(job, acct)
	return job
}

// prepareInto is prepare into a job the caller allocated (a chunk's jobs
// are one slice), which must be zero.
func (c *chunk) prepareInto(job *accountJob, acct storage.Account) {
	job.acct, job.next, job.loadLots = acct, acct.NextGrantAt, expiryDue(&acct, c.now) || acct.MultiPool
	job.dues = job.duesBuf[:0]
	if !c.grants || acct.NextGrantAt == nil || acct.NextGrantAt.After(c.now) {
		return
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
		return
	}
	plan, ok := cat.Plan(job.planID)
	if !ok {
		job.err = fmt.Errorf("account %q: %w: %q", acct.ID, ErrUnknownPlan, job.planID)
		return
	}
	job.planDef = plan
	if plan.Allocation == nil {
		job.next = nil
		return
	}
	loc := cat.Loc()
	pa := policy.Account{ID: acct.ID, Plan: job.planID, Anchor: acct.Anchor, CreatedAt: acct.CreatedAt}
	cur, ok := plan.Allocation.Allocate(pa, c.now, loc)
	if !ok {
		job.next = nil
		return
	}
	if !inRange(cur.Period.End) {
		job.err = checkTime(fmt.Sprintf("account %q: next grant of plan %q", acct.ID, job.planID), cur.Period.End)
		return
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
	if plan.Rollover != nil {
		for i := range job.dues {
			d := &job.dues[i]
			if prev, ok := prevPeriod(plan.Allocation, pa, d.due.Period, loc); ok {
				d.prevKey, d.prevPeriod = planKey(job.planID, acct.ID, prev), prev.Key
				// The previous period's lots are needed, to end them.
				job.loadLots = true
			}
		}
	}
	if c.l.overdrafts {
		// A grant pays a pool's debt first (overdraft.go).
		job.loadLots = true
	}
	end := cur.Period.End
	job.next = &end
	return
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
		if job.loadLots {
			q.LotsOf = append(q.LotsOf, job.acct.ID)
			q.HoldsOf = append(q.HoldsOf, job.acct.ID)
		}
		if job.err == nil && !c.skipKeys {
			q.Keys = append(q.Keys, job.keys()...)
		}
		if job.err == nil {
			// A rollover looks its previous period up even on the first
			// run's try, which skips the job's own keys.
			q.Keys = append(q.Keys, job.prevKeys()...)
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
			if job.existing == nil {
				job.existing = map[string]bool{}
			}
			job.existing[op.Key] = true
		}
	}
	if err := c.loadPrev(ctx, tx, byID, loaded.Operations); err != nil {
		return err
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
	var w *accountWriter
	if c.batch != nil {
		w = c.l.newWriterInto(c.batch, job.acct, job.lots, job.loadLots, c.now)
	} else {
		w = c.l.newWriter(job.acct, job.lots, job.loadLots, c.now)
	}
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
	b := w.finish(job.plan)
	if c.batch != nil {
		*c.batch = *b // take the job's writes over: only now, so a failed job adds nothing
		return nil
	}
	job.batch = b
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
		amount, err := c.minor(d.due.Amount)
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
		g := grantSpec{
			source:      d.due.Source,
			priority:    job.planDef.Priority,
			expiresAt:   exp,
			description: "plan " + job.planID + " period " + d.due.Period.Key,
		}
		if len(d.due.Grants) == 0 && job.planDef.Rollover == nil {
			// One pool, no rollover: the grant as v0.2 made it.
			if err := c.grantOnce(w, job, d.key, amount, g); err != nil {
				return err
			}
			continue
		}
		if err := c.grantPeriod(w, job, d, amount, g); err != nil {
			return err
		}
	}
	return nil
}

// grantOnce stages a ledger-made grant under its own keyed operation.
func (c *chunk) grantOnce(w *accountWriter, job *accountJob, key string, amount int64, g grantSpec) error {
	g.amount = amount
	var buf [128]byte // room for the usual fields, so that hashing them allocates nothing
	ph := paramHash{h: buf[:0]}
	hash := ph.str(job.acct.ID).int(amount).str(g.source).time(g.expiresAt).int(int64(g.priority)).sum()
	opIdx := w.op(storage.KindGrant, key, hash)
	if _, err := w.grant(opIdx, g); err != nil {
		return err
	}
	w.setAvailable(opIdx)
	// Every key a job grants is its own (distinct periods, and the gift's),
	// so none is met twice in one staging: nothing to record.
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

// grantPeriod stages a plan's grant for one period into each of its pools
// and, when the plan rolls over, what the previous period left (see
// rollover.go), under one keyed operation.
func (c *chunk) grantPeriod(w *accountWriter, job *accountJob, d dueGrant, amount int64, g grantSpec) error {
	prev := job.prevSource(d)
	n, minor, err := w.expireRolled(job.planDef, prev)
	if err != nil {
		return err
	}
	job.expired += n
	job.expiredMinor += minor
	hash := new(paramHash).str(job.acct.ID).int(amount).str(g.source).time(g.expiresAt).int(int64(g.priority))
	grants := dueGrants(d.due)
	granted := make(map[string]int64, len(grants))
	for _, pg := range grants {
		minor, err := toMinor(pg.Amount, c.l.scale, true)
		if err != nil {
			return fmt.Errorf("plan %q: pool %q: %w", job.planID, pg.Pool, err)
		}
		granted[pg.Pool] = minor
		hash.str(pg.Pool).int(minor)
	}
	opIdx := w.op(storage.KindGrant, d.key, hash.sum())
	for _, pg := range grants {
		pgs := g
		pgs.amount, pgs.pool = granted[pg.Pool], pg.Pool
		if _, err := w.grant(opIdx, pgs); err != nil {
			return err
		}
		job.granted++
		job.grantedMinor += pgs.amount
	}
	n, minor, err = w.stageRollover(opIdx, job.planDef, job.planID, prev, g.source, g.expiresAt, granted)
	if err != nil {
		return err
	}
	job.granted += n
	job.grantedMinor += minor
	w.setAvailable(opIdx)
	if job.existing == nil {
		job.existing = map[string]bool{}
	}
	job.existing[d.key] = true
	if job.staged == nil {
		job.staged = map[string]string{}
	}
	job.staged[d.key] = w.opID(opIdx)
	return nil
}

// prevKeys returns the keys of the previous periods' grants the job's
// dues roll over from.
func (job *accountJob) prevKeys() []storage.AccountKey {
	var keys []storage.AccountKey
	for _, d := range job.dues {
		if d.prevKey != "" {
			keys = append(keys, storage.AccountKey{Account: job.acct.ID, Key: d.prevKey})
		}
	}
	return keys
}

// prevSource returns the previous period's grant of d, nil when there is
// none (the account was not granted that period by this plan).
func (job *accountJob) prevSource(d dueGrant) *rolloverSource {
	if d.prevKey == "" {
		return nil
	}
	if id, ok := job.staged[d.prevKey]; ok {
		return &rolloverSource{opID: id, periodKey: d.prevPeriod}
	}
	if id, ok := job.prevOps[d.prevKey]; ok {
		return &rolloverSource{opID: id, periodKey: d.prevPeriod, entries: job.prevEntries[id]}
	}
	return nil
}

// loadPrev reads the entries of the previous periods' grants the jobs
// roll over from: those the operations wrote and those naming them.
func (c *chunk) loadPrev(ctx context.Context, tx storage.Tx, byID map[string]*accountJob, ops []storage.Operation) error {
	var q storage.LoadQuery
	for _, op := range ops {
		job := byID[op.Account]
		if job == nil {
			continue
		}
		for _, d := range job.dues {
			if d.prevKey == op.Key {
				if job.prevOps == nil {
					job.prevOps, job.prevEntries = map[string]string{}, map[string][]storage.Entry{}
				}
				job.prevOps[op.Key] = op.ID
				q.Refs = append(q.Refs, storage.AccountID{Account: op.Account, ID: op.ID})
				break
			}
		}
	}
	if len(q.Refs) == 0 {
		return nil
	}
	loaded, err := tx.Load(ctx, q)
	if err != nil {
		return err
	}
	for _, e := range loaded.Entries {
		job := byID[e.Account]
		if job == nil {
			continue
		}
		for _, id := range job.prevOps {
			if e.OperationID == id || e.Ref == id {
				job.prevEntries[id] = append(job.prevEntries[id], e)
			}
		}
	}
	return nil
}
