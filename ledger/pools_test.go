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

// poolCatalog prices two features: "render" at 2.5 image credits a unit
// (finer than scale 0), "chat" at 1 credit of the default pool.
func poolCatalog() *policy.Catalog {
	return &policy.Catalog{
		Features: []policy.Feature{{ID: "render", Pool: "image", Price: d("2.5")}, {ID: "chat", Price: d("1")}},
		Packs:    []policy.Pack{{ID: "images", Amount: d("40"), Pool: "image"}},
	}
}

// requireSeq asserts how many entries the account has: a refused call
// wrote nothing.
func requireSeq(t *testing.T, b *bundle, account string, want int64) {
	t.Helper()
	a, err := b.store.Account(t.Context(), account)
	require.NoError(t, err)
	require.Equal(t, want, a.Seq, "entries of %s", account)
}

// poolAvailable is the available balance of one pool ("0" when the
// balance has no entry for it).
func poolAvailable(t *testing.T, bal *ledger.Balance, pool string) string {
	t.Helper()
	p, ok := bal.Pools[pool]
	if !ok {
		return "0"
	}
	return p.Available.String()
}

func TestPoolsNeverDrawOnEachOther(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: poolCatalog()})
		ctx := t.Context()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Amount: d("10")})
		require.NoError(t, err)
		rec, err := b.l.GrantPack(ctx, "u", "images", "g2")
		require.NoError(t, err)
		require.Equal(t, "40", rec.Balance.String(), "a call in a pool answers with the pool's balance")
		require.Equal(t, "image", rec.Entries[0].Pool)
		require.Equal(t, "40", rec.Entries[0].BalanceAfter.String(), "the pool's balance after")

		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Equal(t, "10", bal.Available.String(), "the default pool's, as in v0.2")
		require.Equal(t, "40", poolAvailable(t, bal, "image"))
		require.Len(t, bal.Pools, 2)
		require.Len(t, bal.Lots, 1)
		require.Len(t, bal.Pools["image"].Lots, 1)
		require.Equal(t, "image", bal.Pools["image"].Lots[0].Pool)

		// The default pool cannot spend image credits, nor the reverse.
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("11")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Pool: "image", Amount: d("41")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Pool: "chat", Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits, "a pool with no lots")
		requireSeq(t, b, "u", 2)

		rec, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Pool: "image", Amount: d("40"), IdempotencyKey: "c1"})
		require.NoError(t, err)
		require.Equal(t, "0", rec.Balance.String())
		require.Len(t, rec.Entries, 1)
		require.Equal(t, "image", rec.Entries[0].Pool)
		require.Equal(t, "0", rec.Entries[0].BalanceAfter.String())
		again, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Pool: "image", Amount: d("40"), IdempotencyKey: "c1"})
		require.NoError(t, err)
		require.True(t, again.Replayed)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("40"), IdempotencyKey: "c1"})
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict, "the pool is part of the call")

		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("4")})
		require.NoError(t, err)
		require.Equal(t, "", h.Pool)
		bal, err = b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Equal(t, "6", bal.Available.String())
		require.Equal(t, "4", bal.Held.String())
		require.Equal(t, "0", poolAvailable(t, bal, "image"))
		require.NotContains(t, bal.Pools, "image", "a pool with nothing left is not listed")

		image := "image"
		page, err := b.l.Entries(ctx, "u", &ledger.ListOpts{Pool: &image})
		require.NoError(t, err)
		require.Len(t, page.Entries, 2)
		for _, e := range page.Entries {
			require.Equal(t, "image", e.Pool)
		}
		def := ""
		page, err = b.l.Entries(ctx, "u", &ledger.ListOpts{Pool: &def, Limit: 1})
		require.NoError(t, err)
		require.Len(t, page.Entries, 1)
		require.Equal(t, ledger.KindHold, page.Entries[0].Kind)
		require.Equal(t, "6", page.Entries[0].BalanceAfter.String(), "the default pool's balance after the hold")
		page, err = b.l.Entries(ctx, "u", &ledger.ListOpts{Pool: &def, Cursor: page.NextCursor})
		require.NoError(t, err)
		require.Len(t, page.Entries, 1)
		require.Equal(t, ledger.KindGrant, page.Entries[0].Kind)
		requireVerified(t, b)
	})
}

func TestFeaturePrices(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: poolCatalog()})
		ctx := t.Context()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Pool: "image", Amount: d("20")})
		require.NoError(t, err)

		// Bad input: a typed error, nothing written.
		for name, p := range map[string]ledger.ConsumeParams{
			"amount and feature":   {Account: "u", Amount: d("1"), Feature: "render", Quantity: d("1")},
			"zero quantity":        {Account: "u", Feature: "render"},
			"negative quantity":    {Account: "u", Feature: "render", Quantity: d("-1")},
			"quantity, no feature": {Account: "u", Amount: d("1"), Quantity: d("1")},
			"another pool":         {Account: "u", Pool: "chat", Feature: "render", Quantity: d("1")},
		} {
			_, err := b.l.Consume(ctx, p)
			require.ErrorIs(t, err, ledger.ErrInvalidArgument, name)
			require.False(t, errors.Is(err, ledger.ErrUnknownFeature), name)
		}
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Feature: "video", Quantity: d("1")})
		require.ErrorIs(t, err, ledger.ErrUnknownFeature)
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		require.Contains(t, err.Error(), `"video"`)
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Feature: "video", Quantity: d("1")})
		require.ErrorIs(t, err, ledger.ErrUnknownFeature)
		requireSeq(t, b, "u", 1)

		// 3 units at 2.5: 7.5, rounded up to 8 at scale 0.
		params := ledger.ConsumeParams{Account: "u", IdempotencyKey: "c1", Feature: "render", Quantity: d("3")}
		rec, err := b.l.Consume(ctx, params)
		require.NoError(t, err)
		require.Len(t, rec.Entries, 1)
		e := rec.Entries[0]
		require.Equal(t, "-8", e.Amount.String())
		require.Equal(t, "image", e.Pool)
		require.Equal(t, "render", e.Feature)
		require.Equal(t, "3", e.Quantity.String())
		require.Equal(t, "12", rec.Balance.String())
		again, err := b.l.Consume(ctx, params)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, "3", again.Entries[0].Quantity.String(), "read back from the store")
		other := params
		other.Quantity = d("2")
		_, err = b.l.Consume(ctx, other)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)

		// A hold priced the same way, in the feature's pool.
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Feature: "render", Quantity: d("1")})
		require.NoError(t, err)
		require.Equal(t, "3", h.Amount.String())
		require.Equal(t, "image", h.Pool)
		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Equal(t, "9", poolAvailable(t, bal, "image"))
		require.Equal(t, "3", bal.Pools["image"].Held.String())
		require.Equal(t, "0", bal.Held.String(), "the default pool holds nothing")
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Feature: "render", Quantity: d("4")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits, "4 units cost 10, 9 are available")
		requireVerified(t, b)
	})
}

func TestFeatureCatalogValidation(t *testing.T) {
	t.Parallel()
	for name, fs := range map[string][]policy.Feature{
		"zero price":     {{ID: "a", Price: d("0")}},
		"negative price": {{ID: "a", Price: d("-1")}},
		"duplicate":      {{ID: "a", Price: d("1")}, {ID: "a", Price: d("2")}},
		"empty id":       {{ID: "", Price: d("1")}},
	} {
		_, err := ledger.New(testKindsMemory(t), &ledger.Config{Catalog: &policy.Catalog{Features: fs}})
		require.ErrorIs(t, err, policy.ErrInvalidCatalog, name)
	}
	_, err := ledger.New(testKindsMemory(t), &ledger.Config{Catalog: &policy.Catalog{Features: []policy.Feature{{ID: "a", Price: d("0.0001")}}}})
	require.NoError(t, err, "a price finer than the scale")
}

func TestDatedGrant(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		start := t0.Add(time.Hour)
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "bad", Amount: d("10"),
			EffectiveAt: &start, ExpiresAt: &start})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument, "an expiry at the effective time")
		_, err = b.store.Account(ctx, "u")
		require.ErrorIs(t, err, ledger.ErrNotFound, "nothing written")

		exp := start.Add(24 * time.Hour)
		rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Amount: d("10"), EffectiveAt: &start, ExpiresAt: &exp})
		require.NoError(t, err)
		require.Equal(t, "0", rec.Balance.String(), "not spendable yet")
		past := t0.Add(-time.Hour)
		_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g2", Amount: d("1"), EffectiveAt: &past})
		require.NoError(t, err)

		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Equal(t, "1", bal.Available.String())
		require.Len(t, bal.Lots, 1)
		require.Nil(t, bal.Lots[0].EffectiveAt, "an effective time in the past is none")
		require.Len(t, bal.Upcoming, 1)
		require.True(t, start.Equal(*bal.Upcoming[0].EffectiveAt))
		require.Len(t, bal.Pools[""].Upcoming, 1)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("2")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)

		b.clock.Set(start.Add(-time.Microsecond))
		requireBalance(t, b, "u", "1")
		b.clock.Set(start)
		requireBalance(t, b, "u", "11")
		rec, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("11")})
		require.NoError(t, err, "spendable at its instant")
		require.Equal(t, "0", rec.Balance.String())

		at, err := b.l.BalanceAt(ctx, "u", start.Add(-time.Minute))
		require.NoError(t, err)
		require.Equal(t, "1", at.Available.String())
		require.Len(t, at.Upcoming, 1)
		requireVerified(t, b)
	})
}

func TestSetLotExpiry(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		exp := t0.Add(24 * time.Hour)
		rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Amount: d("10"), ExpiresAt: &exp})
		require.NoError(t, err)
		lot := rec.Entries[0].LotID

		_, err = b.l.SetLotExpiry(ctx, "u", "nope", nil)
		require.ErrorIs(t, err, ledger.ErrNotFound)
		require.Contains(t, err.Error(), "nope")
		_, err = b.l.SetLotExpiry(ctx, "nobody", lot, nil)
		require.ErrorIs(t, err, ledger.ErrNotFound)
		requireSeq(t, b, "u", 1)

		// Extend by a day.
		later := exp.Add(24 * time.Hour)
		rec, err = b.l.SetLotExpiry(ctx, "u", lot, &later)
		require.NoError(t, err)
		require.Len(t, rec.Entries, 1)
		e := rec.Entries[0]
		require.Equal(t, ledger.KindSetExpiry, e.Kind)
		require.Equal(t, lot, e.LotID)
		require.True(t, e.Amount.IsZero())
		require.Equal(t, storage.FormatMetaTime(exp), e.Metadata[storage.MetaPreviousExpiresAt])
		require.Equal(t, "10", rec.Balance.String())
		b.clock.Set(exp.Add(time.Hour))
		requireBalance(t, b, "u", "10")

		// Never, then shortened to before now: expired now.
		_, err = b.l.SetLotExpiry(ctx, "u", lot, nil)
		require.NoError(t, err)
		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Nil(t, bal.Lots[0].ExpiresAt)
		rec, err = b.l.SetLotExpiry(ctx, "u", lot, &t0)
		require.NoError(t, err)
		require.Len(t, rec.Entries, 2)
		require.Equal(t, ledger.KindSetExpiry, rec.Entries[0].Kind)
		require.Equal(t, storage.MetaNever, rec.Entries[0].Metadata[storage.MetaPreviousExpiresAt])
		require.Equal(t, ledger.KindExpire, rec.Entries[1].Kind)
		require.Equal(t, "-10", rec.Entries[1].Amount.String())
		require.Equal(t, "0", rec.Balance.String())
		requireBalance(t, b, "u", "0")
		_, err = b.l.SetLotExpiry(ctx, "u", lot, &later)
		require.ErrorIs(t, err, ledger.ErrNotFound, "a closed lot")
		requireSeq(t, b, "u", 5)

		// The past as it was: at exp+30m the lot was extended and open.
		at, err := b.l.BalanceAt(ctx, "u", exp.Add(30*time.Minute))
		require.NoError(t, err)
		require.Equal(t, "10", at.Available.String())
		at, err = b.l.BalanceAt(ctx, "u", t0.Add(time.Minute))
		require.NoError(t, err)
		require.Equal(t, "10", at.Available.String())
		require.True(t, later.Equal(*at.Lots[0].ExpiresAt), "the expiry it had then (extended at t0), not never")
		requireVerified(t, b)
	})
}

// TestBalanceAtWithPools: BalanceAt at past instants agrees with what
// Balance said then, across pools, features, holds, dated grants and
// expiry changes.
func TestBalanceAtWithPools(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: poolCatalog()})
		ctx := t.Context()
		var seen []*ledger.Balance
		step := func(fn func() error) {
			t.Helper()
			require.NoError(t, fn())
			bal, err := b.l.Balance(ctx, "u")
			require.NoError(t, err)
			seen = append(seen, bal)
			b.clock.Add(10 * time.Minute)
		}
		start := t0.Add(25 * time.Minute)
		var lot string
		step(func() error {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Amount: d("10")})
			return err
		})
		step(func() error {
			rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g2", Pool: "image", Amount: d("30"), EffectiveAt: &start})
			if err == nil {
				lot = rec.Entries[0].LotID
			}
			return err
		})
		step(func() error {
			_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Feature: "chat", Quantity: d("2")})
			return err
		})
		step(func() error {
			_, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Feature: "render", Quantity: d("2"), TTL: 15 * time.Minute})
			return err
		})
		step(func() error {
			exp := t0.Add(2 * time.Hour)
			_, err := b.l.SetLotExpiry(ctx, "u", lot, &exp)
			return err
		})
		step(func() error { return nil }) // the hold expired
		for _, want := range seen {
			got, err := b.l.BalanceAt(ctx, "u", want.At)
			require.NoError(t, err)
			require.Equal(t, want.Available.String(), got.Available.String(), "at %s", want.At)
			require.Equal(t, want.Held.String(), got.Held.String(), "at %s", want.At)
			require.Equal(t, len(want.Pools), len(got.Pools), "at %s", want.At)
			for p, wp := range want.Pools {
				gp := got.Pools[p]
				require.Equal(t, wp.Available.String(), gp.Available.String(), "pool %q at %s", p, want.At)
				require.Equal(t, wp.Held.String(), gp.Held.String(), "pool %q at %s", p, want.At)
				require.Equal(t, len(wp.Upcoming), len(gp.Upcoming), "pool %q at %s", p, want.At)
				require.Equal(t, len(wp.Lots), len(gp.Lots), "pool %q at %s", p, want.At)
			}
		}
		last := seen[len(seen)-1]
		require.Equal(t, "8", last.Available.String())
		require.Equal(t, "30", poolAvailable(t, last, "image"))
		require.NotNil(t, last.Pools["image"].Lots[0].ExpiresAt)
		requireVerified(t, b)
	})
}

// TestPoolsAcrossWrites: every write that touches an account with
// several pools (plans and their gift, the distribution, SetPlans, holds,
// captures, releases, reversals, expiries) keeps each pool's balance and
// history right: Verify clean, each pool's figures as expected.
func TestPoolsAcrossWrites(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		catalog := testCatalog(nil)
		catalog.SignupGift.Pool = "chat"
		catalog.Features = []policy.Feature{{ID: "render", Pool: "image", Price: d("2")}}
		b := setup(t, newStore, &ledger.Config{Catalog: catalog})
		ctx := t.Context()
		exp := t0.Add(2 * time.Hour)
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "img", Pool: "image", Amount: d("30"), ExpiresAt: &exp})
		require.NoError(t, err)
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "free"}))
		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Equal(t, "50", bal.Available.String(), "the plan's period, in the default pool")
		require.Equal(t, "10", poolAvailable(t, bal, "chat"), "the gift, in its pool")
		require.Equal(t, "30", poolAvailable(t, bal, "image"))

		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Feature: "render", Quantity: d("5")})
		require.NoError(t, err)
		rec, err := b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("4")})
		require.NoError(t, err)
		require.Equal(t, "26", rec.Balance.String(), "the capture answers with the image pool")
		h2, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Pool: "chat", Amount: d("3")})
		require.NoError(t, err)
		_, err = b.l.Release(ctx, "u", h2.ID)
		require.NoError(t, err)
		rec, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Pool: "chat", Amount: d("6"), IdempotencyKey: "c1"})
		require.NoError(t, err)
		require.Equal(t, "4", rec.Balance.String())
		rec, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", Key: "c1"})
		require.NoError(t, err)
		require.Equal(t, "10", rec.Balance.String(), "the reversal answers with the chat pool")
		rec, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", Key: "c1"})
		require.NoError(t, err)
		require.True(t, rec.NothingToReverse)
		require.Equal(t, "10", rec.Balance.String())

		require.NoError(t, b.l.SetPlans(ctx, []ledger.PlanParams{{Account: "u", Plan: "yearly"}, {Account: "v", Plan: "free"}}))
		b.clock.Set(exp) // the image lot expires
		distribute(t, b)
		bal, err = b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Equal(t, "0", poolAvailable(t, bal, "image"))
		require.Equal(t, "10", poolAvailable(t, bal, "chat"))
		page, err := b.l.Entries(ctx, "u", &ledger.ListOpts{Limit: 100})
		require.NoError(t, err)
		for _, e := range page.Entries {
			if e.Kind == ledger.KindPlan {
				require.Equal(t, "", e.Pool)
			}
		}
		requireVerified(t, b)
	})
}

// TestSetLotExpiryDatedLot: a dated lot cannot be given an expiry before
// its start, but can be expired now (cancelled before it starts).
func TestSetLotExpiryDatedLot(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		start := t0.Add(2 * time.Hour)
		rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Amount: d("10"), EffectiveAt: &start})
		require.NoError(t, err)
		lot := rec.Entries[0].LotID
		early := t0.Add(time.Hour)
		_, err = b.l.SetLotExpiry(ctx, "u", lot, &early)
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		requireSeq(t, b, "u", 1)
		rec, err = b.l.SetLotExpiry(ctx, "u", lot, &t0)
		require.NoError(t, err)
		require.Len(t, rec.Entries, 2)
		b.clock.Set(start)
		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.Equal(t, "0", bal.Available.String())
		require.Empty(t, bal.Upcoming)
		requireVerified(t, b)
	})
}
