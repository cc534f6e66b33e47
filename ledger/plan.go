package ledger

import (
	"context"
	"fmt"
	"time"

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
	// its anchor is kept (so a retried call changes nothing).
	Anchor time.Time
}

// maxBackfill bounds the periods one account is back-filled in one run
// (100 years of months), so a corrupt anchor cannot make a run endless.
const maxBackfill = 1200

// zeroPeriod is the period of grants made for no period (gifts, packs).
var zeroPeriod policy.Period

func (l *Ledger) checkPlan(p *PlanParams) error {
	if err := checkID("account", p.Account); err != nil {
		return err
	}
	if err := checkID("plan", p.Plan); err != nil {
		return err
	}
	if _, ok := l.catalog.Plan(p.Plan); !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPlan, p.Plan)
	}
	return nil
}

// SetPlan puts an account on a plan, creating the account if needed, and
// grants at once what is due: the catalog's signup gift the first time an
// account is given a plan, and the plan's grant for the current period.
// Later periods are granted by Distribute. Calling it again with the same
// parameters changes nothing (grants are keyed by plan, account and
// period); a new plan or anchor starts the new plan's period.
//
// Errors: ErrUnknownPlan for a plan not in the catalog;
// ErrInvalidArgument for a bad account or plan id.
func (l *Ledger) SetPlan(ctx context.Context, p PlanParams) error {
	if err := l.checkPlan(&p); err != nil {
		return err
	}
	now := l.clock()
	return l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{p.Account}, true, now)
		if err != nil {
			return err
		}
		acct := accts[0]
		change := l.applyPlan(&acct, p, now)
		var keys []string
		if change != nil && acct.Plan == "" && l.catalog.SignupGift != nil {
			keys = append(keys, giftKey(acct.ID))
		}
		c := &chunk{l: l, now: now, grants: true}
		if change != nil {
			acct.Plan, acct.Anchor = change.plan, change.anchor
			acct.NextGrantAt = &now
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
		return applyLast(ctx, tx, job.batch)
	})
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
	return &planChange{plan: p.Plan, anchor: anchor}
}

// DefaultSetPlansChunk is the number of accounts SetPlans writes per
// transaction.
const DefaultSetPlansChunk = 1000

// SetPlans puts many accounts on plans, for imports of a whole user base:
// in transactions of DefaultSetPlansChunk accounts, each a few set-based
// statements. Unlike SetPlan it grants nothing itself (no gifts: these are
// existing users); every account whose plan changed is due for its
// current period at the next Distribute. A later entry for the same
// account overrides an earlier one. All params are validated before
// anything is written; on a failure after that, the chunks written before
// stay written and the error says how many accounts were done, so the
// call can simply be repeated (it is idempotent).
//
// Errors: as SetPlan, naming the index of the bad entry.
func (l *Ledger) SetPlans(ctx context.Context, ps []PlanParams) error {
	for i := range ps {
		if err := l.checkPlan(&ps[i]); err != nil {
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
	now := l.clock()
	byID := make(map[string]PlanParams, len(ps))
	ids := make([]string, len(ps))
	for i, p := range ps {
		byID[p.Account] = p
		ids[i] = p.Account
	}
	return l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, ids, true, now)
		if err != nil {
			return err
		}
		b := &storage.Batch{}
		for _, a := range accts {
			change := l.applyPlan(&a, byID[a.ID], now)
			if change == nil {
				continue
			}
			b.Accounts = append(b.Accounts, storage.AccountUpdate{
				ID:           a.ID,
				Balance:      a.Balance,
				Seq:          a.Seq,
				NextGrantAt:  &now,
				NextExpiryAt: a.NextExpiryAt,
				SetPlan:      true,
				Plan:         change.plan,
				Anchor:       change.anchor,
			})
		}
		if b.Empty() {
			return nil
		}
		return applyLast(ctx, tx, b)
	})
}

func giftKey(account string) string { return reservedKeyPrefix + "gift:" + account }

func planKey(plan, account string, p policy.Period) string {
	return reservedKeyPrefix + "plan:" + plan + ":" + account + ":" + p.Key
}
