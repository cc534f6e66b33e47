package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// planEntries returns an account's plan entries, oldest first.
func planEntries(t *testing.T, b *bundle, account string) []ledger.Entry {
	t.Helper()
	page, err := b.l.Entries(t.Context(), account, &ledger.ListOpts{Limit: ledger.MaxPageSize})
	require.NoError(t, err)
	var out []ledger.Entry
	for i := len(page.Entries) - 1; i >= 0; i-- {
		if e := page.Entries[i]; e.Kind == ledger.KindPlan {
			out = append(out, e)
		}
	}
	return out
}

func requirePlanAt(t *testing.T, b *bundle, account string, at time.Time, want string) {
	t.Helper()
	bal, err := b.l.BalanceAt(t.Context(), account, at)
	require.NoError(t, err)
	require.Equal(t, want, bal.Plan, "plan of %s at %s", account, at)
}

// TestBalanceAtPlan: BalanceAt(t).Plan is the plan Balance showed at t,
// not today's (#19, defect 4): SetPlan and SetPlans record each change as
// a plan entry in the account's chain, and BalanceAt replays them.
func TestBalanceAtPlan(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "free"}))
		b.clock.Add(time.Hour)
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "yearly"}))
		b.clock.Add(time.Hour)
		require.NoError(t, b.l.SetPlans(ctx, []ledger.PlanParams{{Account: "u", Plan: "free"}, {Account: "v", Plan: "yearly"}}))
		b.clock.Add(time.Hour)
		// The same plan again changes nothing and records nothing.
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "free"}))

		requirePlanAt(t, b, "u", t0.Add(-time.Second), "")
		requirePlanAt(t, b, "u", t0, "free")
		requirePlanAt(t, b, "u", t0.Add(time.Hour-time.Microsecond), "free")
		requirePlanAt(t, b, "u", t0.Add(time.Hour), "yearly")
		requirePlanAt(t, b, "u", t0.Add(2*time.Hour), "free")
		requirePlanAt(t, b, "v", t0.Add(2*time.Hour), "yearly")
		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Equal(t, "free", bal.Plan)
		requirePlanAt(t, b, "u", b.clock.Now(), bal.Plan)

		es := planEntries(t, b, "u")
		require.Len(t, es, 3)
		for i, want := range []struct{ plan, previous string }{{"free", ""}, {"yearly", "free"}, {"free", "yearly"}} {
			e := es[i]
			require.Equal(t, want.plan, e.Source, "plan entry %d", i)
			require.Equal(t, want.previous, e.Metadata[storage.MetaPreviousPlan], "plan entry %d", i)
			require.Equal(t, t0.Add(time.Duration(i)*time.Hour).Format(time.RFC3339Nano), e.Metadata[storage.MetaPlanAnchor], "plan entry %d", i)
			require.True(t, e.Amount.IsZero())
			require.Empty(t, e.LotID)
			require.Equal(t, t0.Add(time.Duration(i)*time.Hour), e.CreatedAt)
		}
		// SetPlan's entry comes before the grants it made due.
		page, err := b.l.Entries(ctx, "u", &ledger.ListOpts{Limit: ledger.MaxPageSize})
		require.NoError(t, err)
		first := page.Entries[len(page.Entries)-1]
		require.Equal(t, ledger.KindPlan, first.Kind)
		require.Equal(t, es[0].ID, first.ID)
		// The balance after a plan entry is the balance before it.
		require.True(t, es[1].BalanceAfter.Equal(d("60")), "balance after the second plan entry: %s", es[1].BalanceAfter)
		requireVerified(t, b)
	})
}

// TestBalanceAtPlanFromBeforePlanEntries: an account whose plan was set
// by v0.2 (no plan entry) keeps verifying, is taken to have been on that
// plan all along, and its first recorded change says what it was before.
func TestBalanceAtPlanFromBeforePlanEntries(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		grant(t, b, "w", "g1", "5", nil)
		// What v0.2's SetPlans wrote: the account row only.
		require.NoError(t, b.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"w"}, false, t0)
			if err != nil {
				return err
			}
			a := accts[0]
			return tx.Apply(ctx, &storage.Batch{Accounts: []storage.AccountUpdate{{ID: a.ID, Balance: a.Balance, Seq: a.Seq,
				NextGrantAt: &t0, NextExpiryAt: a.NextExpiryAt, SetPlan: true, Plan: "pay_only", Anchor: t0}}})
		}))
		requireVerified(t, b)
		b.clock.Add(time.Hour)
		requirePlanAt(t, b, "w", t0, "pay_only")
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "w", Plan: "yearly"}))
		b.clock.Add(time.Hour)
		requirePlanAt(t, b, "w", t0, "pay_only")
		requirePlanAt(t, b, "w", t0.Add(time.Hour), "yearly")
		requireVerified(t, b)
	})
}
