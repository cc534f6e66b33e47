package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// GrantPackWith grants the pack, its shorthand GrantPack replays the same
// call, a description joins the hash, and an unknown pack is
// ErrUnknownPack (and still ErrNotFound) writing nothing.
func TestGrantPackWith(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		ctx := t.Context()
		b := setup(t, newStore, &ledger.Config{Catalog: policy.ReferenceCatalog()})
		rec, err := b.l.GrantPackWith(ctx, ledger.GrantPackParams{Account: "alice", Pack: "basic", IdempotencyKey: "pay-1"})
		require.NoError(t, err)
		require.False(t, rec.Replayed)
		require.Len(t, rec.Entries, 1)
		require.Equal(t, "purchase_package", rec.Entries[0].Source)
		require.Equal(t, "pack basic", rec.Entries[0].Description)
		require.True(t, d("100").Equal(rec.Balance))

		again, err := b.l.GrantPack(ctx, "alice", "basic", "pay-1")
		require.NoError(t, err)
		require.True(t, again.Replayed, "the shorthand replays the struct form")
		require.Equal(t, rec.OperationID, again.OperationID)

		_, err = b.l.GrantPackWith(ctx, ledger.GrantPackParams{Account: "alice", Pack: "basic", IdempotencyKey: "pay-1", Description: "other"})
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)

		rec, err = b.l.GrantPackWith(ctx, ledger.GrantPackParams{Account: "alice", Pack: "standard", IdempotencyKey: "pay-2",
			Description: "black friday", Metadata: map[string]string{"order": "o-7"}})
		require.NoError(t, err)
		require.Equal(t, "black friday", rec.Entries[0].Description)
		require.Equal(t, map[string]string{"order": "o-7"}, rec.Entries[0].Metadata)
		requireBalance(t, b, "alice", "300")

		for _, call := range []func() error{
			func() error {
				_, err := b.l.GrantPackWith(ctx, ledger.GrantPackParams{Account: "alice", Pack: "platinum", IdempotencyKey: "pay-3"})
				return err
			},
			func() error { _, err := b.l.GrantPack(ctx, "bob", "platinum", "pay-3"); return err },
		} {
			err := call()
			require.ErrorIs(t, err, ledger.ErrUnknownPack)
			require.ErrorIs(t, err, ledger.ErrNotFound, "v0.2 callers tested ErrNotFound")
			require.False(t, errors.Is(err, ledger.ErrUnknownPlan))
			require.Equal(t, `creditledger: unknown pack "platinum": not in the catalog`, err.Error())
		}
		requireBalance(t, b, "alice", "300")
		_, err = b.l.Balance(ctx, "bob")
		require.ErrorIs(t, err, ledger.ErrNotFound, "the unknown pack created no account")
		requireVerified(t, b)
	})
}

// ReleaseWith releases with its description; the shorthand Release of the
// released hold returns it unchanged.
func TestReleaseWith(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		ctx := t.Context()
		b := setup(t, newStore, nil)
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "alice", IdempotencyKey: "g", Amount: d("50")})
		require.NoError(t, err)
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "alice", Amount: d("20")})
		require.NoError(t, err)
		requireBalance(t, b, "alice", "30")

		_, err = b.l.ReleaseWith(ctx, ledger.ReleaseParams{Account: "alice", HoldID: h.ID, Description: string(make([]byte, ledger.MaxDescriptionLength+1))})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		requireBalance(t, b, "alice", "30")

		out, err := b.l.ReleaseWith(ctx, ledger.ReleaseParams{Account: "alice", HoldID: h.ID, Description: "call failed"})
		require.NoError(t, err)
		require.Equal(t, ledger.HoldReleased, out.State)
		requireBalance(t, b, "alice", "50")
		page, err := b.l.Entries(ctx, "alice", nil)
		require.NoError(t, err)
		require.Equal(t, ledger.KindRelease, page.Entries[0].Kind)
		require.Equal(t, "call failed", page.Entries[0].Description)
		n := len(page.Entries)

		out, err = b.l.Release(ctx, "alice", h.ID)
		require.NoError(t, err)
		require.Equal(t, ledger.HoldReleased, out.State)
		page, err = b.l.Entries(ctx, "alice", nil)
		require.NoError(t, err)
		require.Len(t, page.Entries, n, "a second release writes nothing")

		_, err = b.l.ReleaseWith(ctx, ledger.ReleaseParams{Account: "alice", HoldID: "nope"})
		require.ErrorIs(t, err, ledger.ErrNotFound)
		requireVerified(t, b)
	})
}

// AssignPlan reports the gift and the period it granted, then, called
// again, that nothing changed; SetPlan is the same call without the
// result.
func TestAssignPlan(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		ctx := t.Context()
		b := setup(t, newStore, &ledger.Config{Catalog: policy.ReferenceCatalog()})
		res, err := b.l.AssignPlan(ctx, ledger.PlanParams{Account: "carol", Plan: "pro_yearly"})
		require.NoError(t, err)
		require.True(t, res.Changed)
		require.Equal(t, "carol", res.Account)
		require.Equal(t, "pro_yearly", res.Plan)
		require.True(t, res.Anchor.Equal(t0), "anchor: now")
		require.True(t, d("1050").Equal(res.Granted), "gift 50 + period 1000, got %s", res.Granted)
		// The plan change first, then the gift and the period.
		require.Equal(t, ledger.KindPlan, res.Entries[0].Kind)
		require.Equal(t, "pro_yearly", res.Entries[0].Source)
		var sources []string
		for _, e := range res.Entries[1:] {
			require.Equal(t, ledger.KindGrant, e.Kind)
			require.NotEmpty(t, e.OperationID)
			sources = append(sources, e.Source)
		}
		require.ElementsMatch(t, []string{"register_gift", "subscription_renewal"}, sources)
		requireBalance(t, b, "carol", "1050")

		res, err = b.l.AssignPlan(ctx, ledger.PlanParams{Account: "carol", Plan: "pro_yearly"})
		require.NoError(t, err)
		require.False(t, res.Changed)
		require.Empty(t, res.Entries)
		require.True(t, res.Granted.IsZero())
		require.Equal(t, "pro_yearly", res.Plan)
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "carol", Plan: "pro_yearly"}))
		requireBalance(t, b, "carol", "1050")

		// A move to lifetime grants its period, no second gift.
		b.clock.Add(1)
		res, err = b.l.AssignPlan(ctx, ledger.PlanParams{Account: "carol", Plan: "lifetime"})
		require.NoError(t, err)
		require.True(t, res.Changed)
		require.True(t, d("1000").Equal(res.Granted))
		require.Len(t, res.Entries, 2)
		require.Equal(t, ledger.KindPlan, res.Entries[0].Kind)
		require.Equal(t, "lifetime_monthly", res.Entries[1].Source)

		res, err = b.l.AssignPlan(ctx, ledger.PlanParams{Account: "carol", Plan: "platinum"})
		require.ErrorIs(t, err, ledger.ErrUnknownPlan)
		require.Nil(t, res)
		requireBalance(t, b, "carol", "2050")
		requireVerified(t, b)
	})
}

// A reversal with nothing left says so in its receipt.
func TestReverseNothingToReverse(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		ctx := t.Context()
		b := setup(t, newStore, nil)
		g, err := b.l.Grant(ctx, ledger.GrantParams{Account: "alice", IdempotencyKey: "pay-1", Amount: d("100")})
		require.NoError(t, err)
		rec, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "alice", OperationID: g.OperationID})
		require.NoError(t, err)
		require.False(t, rec.NothingToReverse)
		require.NotEmpty(t, rec.OperationID)
		requireBalance(t, b, "alice", "0")

		rec, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "alice", Key: "pay-1"})
		require.NoError(t, err)
		require.True(t, rec.NothingToReverse)
		require.False(t, rec.Replayed)
		require.Empty(t, rec.OperationID)
		require.Empty(t, rec.Entries)
		require.True(t, rec.Balance.IsZero())
		requireVerified(t, b)
	})
}

// Errors name the account once and the package once, on every store.
func TestNotFoundMessages(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		ctx := t.Context()
		b := setup(t, newStore, nil)
		_, err := b.l.Entries(ctx, "nobody", nil)
		require.ErrorIs(t, err, ledger.ErrNotFound)
		require.Equal(t, `creditledger: not found: account "nobody"`, err.Error())

		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "nobody", Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		require.ErrorIs(t, err, ledger.ErrNotFound)
		require.Equal(t, `creditledger: insufficient credits: account "nobody" has no credits (it was never written to)`, err.Error())
		_, err = b.l.Entries(ctx, "nobody", nil)
		require.ErrorIs(t, err, ledger.ErrNotFound, "the consume created no account")

		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "nobody", Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		require.ErrorIs(t, err, ledger.ErrNotFound)
		require.Equal(t, `creditledger: insufficient credits: account "nobody" has no credits (it was never written to)`, err.Error())
		_, err = b.l.Balance(ctx, "nobody")
		require.ErrorIs(t, err, ledger.ErrNotFound)
		require.Equal(t, `creditledger: not found: account "nobody"`, err.Error())
		_, err = b.l.BalanceAt(ctx, "nobody", t0.Add(-time.Hour))
		require.ErrorIs(t, err, ledger.ErrNotFound)
		require.Equal(t, `creditledger: not found: account "nobody"`, err.Error())
	})
}
