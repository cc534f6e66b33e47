package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// PlanParams assign a plan to an account.
type PlanParams struct {
	Account string
	// Plan is a plan id of the catalog.
	Plan string
	// Anchor is when this plan started; anniversary periods count from it.
	// Zero: now, unless the account is already on this plan, in which case
	// its anchor is kept (so a retried call changes nothing). It must be
	// in 1970..9999 (UTC), and so must the next grant and expiry the plan
	// computes from it.
	Anchor time.Time
	// CurrentPeriodGranted says that the plan's grant for the period
	// containing now was already made elsewhere, by the system an import
	// comes from. When the call changes the account's plan or anchor, the
	// plan's next grant is then due at the end of that period instead of
	// at once, so the first Distribute after an import does not grant the
	// period twice (nor does SetPlan itself). False, the default: the
	// current period is due at once. It has no effect when the plan and
	// anchor are unchanged, nor for plans that grant nothing on a
	// schedule; the signup gift of SetPlan is not affected.
	CurrentPeriodGranted bool
}

// maxBackfill bounds the periods one account is back-filled in one run
// (100 years of months), so a corrupt anchor cannot make a run endless.
const maxBackfill = 1200

// zeroPeriod is the period of grants made for no period (gifts, packs).
var zeroPeriod policy.Period

func (l *Ledger) checkPlan(p *PlanParams, now time.Time) error {
	if err := checkID("account", p.Account); err != nil {
		return err
	}
	if err := checkID("plan", p.Plan); err != nil {
		return err
	}
	plan, ok := l.catalog.Plan(p.Plan)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPlan, p.Plan)
	}
	anchor := now
	if !p.Anchor.IsZero() {
		anchor = normTime(p.Anchor)
		if err := checkTime("anchor", anchor); err != nil {
			return err
		}
	}
	// The instants the plan computes from the anchor must be storable
	// too: the end of the period it grants now (its next grant), and that
	// grant's expiry.
	if plan.Allocation == nil {
		return nil
	}
	pa := policy.Account{ID: p.Account, Plan: p.Plan, Anchor: anchor, CreatedAt: anchor}
	due, ok := plan.Allocation.Allocate(pa, now, l.catalog.Loc())
	if !ok {
		return nil
	}
	if err := checkTime(fmt.Sprintf("next grant of plan %q from anchor %s", p.Plan, anchor.Format(time.RFC3339)), due.Period.End); err != nil {
		return err
	}
	return checkTimePtr(fmt.Sprintf("expiry of plan %q's grant", p.Plan), expiresAt(plan.Expiry, now, due.Period))
}

// CheckPlan returns the error SetPlan or SetPlans would return for p's
// parameters, without reading or writing the store: nil when they are
// valid now. An import uses it to set aside the users it cannot place
// and go on with the others.
//
// Errors: as SetPlan (ErrUnknownPlan, ErrInvalidArgument).
func (l *Ledger) CheckPlan(p PlanParams) error {
	return l.checkPlan(&p, l.clock())
}

// PlanResult is what AssignPlan did.
type PlanResult struct {
	Account string
	// Plan and Anchor are the account's plan and anchor after the call.
	Plan   string
	Anchor time.Time
	// Changed is false when the account was already on this plan with
	// this anchor: the call granted nothing new (a retry).
	Changed bool
	// Entries are what the call wrote, oldest first: expire entries when
	// the same write found lots expired, a KindPlan entry when the plan or
	// anchor changed, a grant entry for the signup gift and one for the
	// plan's current period when they were due (Source and Description
	// say which). Empty when nothing changed and nothing was due.
	Entries []Entry
	// Granted is the sum of the grant entries' amounts (zero: none).
	Granted decimal.Decimal
}

// AssignPlan puts an account on a plan, creating the account if needed,
// grants at once what is due, and says what it granted: the catalog's
// signup gift the first time an account is given a plan, and the plan's
// grant for the current period (unless p.CurrentPeriodGranted). Later
// periods are granted by Distribute. Calling it again with the same
// parameters changes nothing and returns Changed false with no grant
// entries (grants are keyed by plan, account and period); a new plan or
// anchor starts the new plan's period, and is recorded in the account's
// history as a KindPlan entry (so BalanceAt knows the plan of any
// instant).
//
// Errors: ErrUnknownPlan for a plan not in the catalog;
// ErrInvalidArgument for a bad account or plan id, or an anchor from
// which the plan's next grant or its expiry would fall outside the range
// of instants a ledger holds (1970 to year 9999, UTC). On any error
// nothing is written.
func (l *Ledger) AssignPlan(ctx context.Context, p PlanParams) (res *PlanResult, err error) {
	ctx, call := l.tel.begin(ctx, opSetPlan)
	defer func() { call.end(ctx, false, err) }()
	if err := l.checkPlan(&p, l.clock()); err != nil {
		return nil, err
	}
	var applied *storage.Batch
	defer func() {
		if err == nil {
			l.tel.committed(ctx, applied)
		}
	}()
	err = l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		applied, res = nil, nil
		created := l.clock()
		accts, err := tx.LockAccounts(ctx, []string{p.Account}, true, created)
		if err != nil {
			return err
		}
		// The write's instant, read once the account is locked.
		now := later(l.clock(), created)
		acct := accts[0]
		change := l.applyPlan(&acct, p, now)
		var keys []storage.AccountKey
		if change != nil && acct.Plan == "" && l.catalog.SignupGift != nil {
			keys = append(keys, storage.AccountKey{Account: acct.ID, Key: giftKey(acct.ID)})
		}
		c := &chunk{l: l, now: now, grants: true}
		if change != nil {
			acct.NextGrantAt = l.nextGrantAt(acct, change, p.CurrentPeriodGranted, now)
			acct.Plan, acct.Anchor = change.plan, change.anchor
		}
		job := c.prepare(acct)
		if job.err != nil {
			return job.err
		}
		job.plan = change
		job.gift = len(keys) > 0
		if err := c.load(ctx, tx, []*accountJob{job}, keys); err != nil {
			return err
		}
		if err := c.stage(job); err != nil {
			return err
		}
		if err := applyLast(ctx, tx, job.batch); err != nil {
			return err
		}
		applied = job.batch
		res = &PlanResult{Account: acct.ID, Plan: acct.Plan, Anchor: acct.Anchor, Changed: change != nil,
			Entries: []Entry{}, Granted: decimal.Zero}
		if job.batch != nil {
			res.Entries = l.entriesOut(job.batch.Entries)
		}
		for _, e := range res.Entries {
			if e.Kind == KindGrant {
				res.Granted = res.Granted.Add(e.Amount)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// SetPlan is AssignPlan without its result, the shorthand for a caller
// that does not need to see what was granted.
//
// Errors: those of AssignPlan.
func (l *Ledger) SetPlan(ctx context.Context, p PlanParams) error {
	_, err := l.AssignPlan(ctx, p)
	return err
}

// applyPlan returns the plan change p makes to acct, nil when none.
func (l *Ledger) applyPlan(acct *storage.Account, p PlanParams, now time.Time) *planChange {
	anchor := normTime(p.Anchor)
	if p.Anchor.IsZero() {
		if acct.Plan == p.Plan {
			return nil
		}
		anchor = now
	}
	if acct.Plan == p.Plan && acct.Anchor.Equal(anchor) {
		return nil
	}
	return &planChange{plan: p.Plan, anchor: anchor, from: acct.Plan}
}

// DefaultSetPlansChunk is the number of accounts SetPlans writes per
// transaction.
const DefaultSetPlansChunk = 1000

// SetPlans puts many accounts on plans, for imports of a whole user base:
// in transactions of DefaultSetPlansChunk accounts, each a few set-based
// statements. Unlike SetPlan it grants nothing itself (no gifts: these are
// existing users); every account whose plan changed gets a KindPlan
// entry, as with SetPlan, and is due for its
// current period at the next Distribute, unless its params say that
// period was granted already (CurrentPeriodGranted). A later entry for the same
// account overrides an earlier one. All params are validated before
// anything is written; on a failure after that, the chunks written before
// stay written and the error says how many accounts were done, so the
// call can simply be repeated (it is idempotent).
//
// Errors: as SetPlan, naming the index of the bad entry.
func (l *Ledger) SetPlans(ctx context.Context, ps []PlanParams) (err error) {
	ctx, call := l.tel.begin(ctx, opSetPlans)
	defer func() { call.end(ctx, false, err) }()
	now := l.clock()
	for i := range ps {
		if err := l.checkPlan(&ps[i], now); err != nil {
			return fmt.Errorf("plans[%d]: %w", i, err)
		}
	}
	// Keep the last entry per account, in first-seen order.
	last := make(map[string]int, len(ps))
	for i, p := range ps {
		last[p.Account] = i
	}
	uniq := make([]PlanParams, 0, len(last))
	for i, p := range ps {
		if last[p.Account] == i {
			uniq = append(uniq, p)
		}
	}
	done := 0
	for start := 0; start < len(uniq); start += DefaultSetPlansChunk {
		part := uniq[start:min(start+DefaultSetPlansChunk, len(uniq))]
		if err := l.setPlansChunk(ctx, part); err != nil {
			return fmt.Errorf("creditledger: set plans (%d of %d accounts done): %w", done, len(uniq), err)
		}
		done += len(part)
	}
	return nil
}

func (l *Ledger) setPlansChunk(ctx context.Context, ps []PlanParams) error {
	byID := make(map[string]PlanParams, len(ps))
	ids := make([]string, len(ps))
	for i, p := range ps {
		byID[p.Account] = p
		ids[i] = p.Account
	}
	return l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		created := l.clock()
		accts, err := tx.LockAccounts(ctx, ids, true, created)
		if err != nil {
			return err
		}
		now := later(l.clock(), created)
		// The plan entry records the default pool's balance, which only
		// the lots of an account with several pools tell.
		var multi []string
		for _, a := range accts {
			if a.MultiPool {
				multi = append(multi, a.ID)
			}
		}
		lotsOf := map[string][]storage.Lot{}
		if len(multi) > 0 {
			loaded, err := tx.Load(ctx, storage.LoadQuery{LotsOf: multi})
			if err != nil {
				return err
			}
			for _, lot := range loaded.Lots {
				lotsOf[lot.Account] = append(lotsOf[lot.Account], lot)
			}
		}
		b := &storage.Batch{}
		for _, a := range accts {
			p := byID[a.ID]
			change := l.applyPlan(&a, p, now)
			if change == nil {
				continue
			}
			// No lots are loaded (but those of an account with several
			// pools): the writer keeps the account's balance and next
			// expiry as they are.
			w := l.newWriter(a, lotsOf[a.ID], a.MultiPool, now)
			w.acct.NextGrantAt = l.nextGrantAt(a, change, p.CurrentPeriodGranted, now)
			if err := w.planEntry(change); err != nil {
				return err
			}
			merge(b, w.finish(change))
		}
		if b.Empty() {
			return nil
		}
		return applyLast(ctx, tx, b)
	})
}

// nextGrantAt returns when the plan of change is next due for acct: now,
// or, when its current period was granted elsewhere (see
// PlanParams.CurrentPeriodGranted), the end of the period containing now.
func (l *Ledger) nextGrantAt(acct storage.Account, change *planChange, granted bool, now time.Time) *time.Time {
	plan, ok := l.catalog.Plan(change.plan)
	if !granted || !ok || plan.Allocation == nil {
		return &now
	}
	pa := policy.Account{ID: acct.ID, Plan: change.plan, Anchor: change.anchor, CreatedAt: acct.CreatedAt}
	d, ok := plan.Allocation.Allocate(pa, now, l.catalog.Loc())
	if !ok || !d.Period.End.After(now) {
		return &now
	}
	end := normTime(d.Period.End)
	return &end
}

func giftKey(account string) string { return reservedKeyPrefix + "gift:" + account }

// planKey is the idempotency key of a plan's grant for a period. The plan
// id and the period key are escaped so that neither contains a colon:
// the first colon after "plan:" ends the plan id and the last one starts
// the period, so no two (plan, account, period) share a key, whatever
// their ids (plan "pro" with account "eu:alice" and plan "pro:eu" with
// account "alice" once did). Ids without '%' or ':' keep the key they
// always had.
func planKey(plan, account string, p policy.Period) string {
	return reservedKeyPrefix + "plan:" + keyEscaper.Replace(plan) + ":" + account + ":" + keyEscaper.Replace(p.Key)
}

// keyEscaper escapes the separator of ledger-made keys, and the escape
// character itself.
var keyEscaper = strings.NewReplacer("%", "%25", ":", "%3A")
