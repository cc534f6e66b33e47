package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/creditledger/creditledger/ledger"
)

// seedPack is the pack the first demo account of each plan bought.
const seedPack = "basic"

// demoAccount is the id of the i-th demo account (from 1) of a plan.
func demoAccount(plan string, i int) string { return fmt.Sprintf("demo-%s-%d", plan, i) }

// seed creates perPlan demo accounts on each plan of the ledger's catalog:
// SetPlan (which grants the signup gift and the plan's credits for the
// current period), and for the first account of each plan one pack bought
// with GrantPack. It is safe to run at every start: an account that already
// has a plan is left alone (its plan may have been changed since), and the
// pack's idempotency key makes a repeated purchase a replay that writes
// nothing.
func seed(ctx context.Context, l *ledger.Ledger, perPlan int, logger *slog.Logger) error {
	created, packs := 0, 0
	for _, plan := range l.Catalog().Plans {
		for i := 1; i <= perPlan; i++ {
			id := demoAccount(plan.ID, i)
			acct, err := l.Store().Account(ctx, id)
			switch {
			case errors.Is(err, ledger.ErrNotFound) || (err == nil && acct.Plan == ""):
				if err := l.SetPlan(ctx, ledger.PlanParams{Account: id, Plan: plan.ID}); err != nil {
					return fmt.Errorf("account %s: %w", id, err)
				}
				created++
			case err != nil:
				return fmt.Errorf("account %s: %w", id, err)
			}
			if i != 1 {
				continue
			}
			rec, err := l.GrantPack(ctx, id, seedPack, "demo-seed:"+id+":"+seedPack)
			if err != nil {
				return fmt.Errorf("account %s: pack %s: %w", id, seedPack, err)
			}
			if !rec.Replayed {
				packs++
			}
		}
	}
	if created > 0 || packs > 0 {
		logger.Info("seeded demo accounts", "accounts", created, "packs", packs)
	} else if perPlan > 0 {
		logger.Info("demo accounts already seeded")
	}
	return nil
}
