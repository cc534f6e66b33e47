package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// kinds returns the kinds of a receipt's entries, in order.
func kinds(es []ledger.Entry) []ledger.EntryKind {
	out := make([]ledger.EntryKind, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

// requireHeld asserts an account's available and held balance.
func requireHeld(t *testing.T, b *bundle, account, available, held string) {
	t.Helper()
	bal, err := b.l.Balance(t.Context(), account)
	require.NoError(t, err)
	require.True(t, d(available).Equal(bal.Available), "available of %s: want %s, got %s", account, available, bal.Available)
	require.True(t, d(held).Equal(bal.Held), "held of %s: want %s, got %s", account, held, bal.Held)
}

func grant(t *testing.T, b *bundle, account, key, amount string, expiresAt *time.Time) *ledger.Receipt {
	t.Helper()
	rec, err := b.l.Grant(t.Context(), ledger.GrantParams{Account: account, Source: "purchase_package", IdempotencyKey: key,
		Amount: d(amount), ExpiresAt: expiresAt})
	require.NoError(t, err)
	return rec
}

func TestHoldCaptureRelease(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		grant(t, b, "u", "g1", "30", tp(t0.Add(time.Hour)))
		grant(t, b, "u", "g2", "50", nil)

		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("40")})
		require.NoError(t, err)
		require.Equal(t, ledger.HoldActive, h.State)
		require.True(t, d("40").Equal(h.Amount))
		require.Equal(t, t0.Add(ledger.DefaultHoldTTL), h.ExpiresAt)
		requireHeld(t, b, "u", "40", "40")

		// Held credits cannot be consumed or held again.
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("41")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("41")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		requireHeld(t, b, "u", "40", "40")

		holds, err := b.l.Holds(ctx, "u")
		require.NoError(t, err)
		require.Len(t, holds, 1)
		require.Equal(t, h.ID, holds[0].ID)

		// Capture 25: the 30-lot (soonest expiry) gives 25, the other 15
		// held go back; 45 + 15... available = 80 - 25 = 55.
		rec, err := b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("25")})
		require.NoError(t, err)
		require.False(t, rec.Replayed)
		require.True(t, d("55").Equal(rec.Balance), "balance after capture: %s", rec.Balance)
		require.Equal(t, []ledger.EntryKind{ledger.KindRelease, ledger.KindRelease, ledger.KindCapture}, kinds(rec.Entries))
		for _, e := range rec.Entries {
			require.Equal(t, h.ID, e.Ref)
		}
		require.True(t, d("-25").Equal(rec.Entries[2].Amount))
		requireHeld(t, b, "u", "55", "0")

		// The same capture replays; another amount, or a release, fails.
		again, err := b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("25")})
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, rec.OperationID, again.OperationID)
		require.True(t, d("55").Equal(again.Balance))
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("20")})
		require.ErrorIs(t, err, ledger.ErrHoldNotActive)
		_, err = b.l.Release(ctx, "u", h.ID)
		require.ErrorIs(t, err, ledger.ErrHoldNotActive)

		// Release gives everything back; twice returns it unchanged.
		h2, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("10"), TTL: time.Minute})
		require.NoError(t, err)
		requireHeld(t, b, "u", "45", "10")
		rel, err := b.l.Release(ctx, "u", h2.ID)
		require.NoError(t, err)
		require.Equal(t, ledger.HoldReleased, rel.State)
		requireHeld(t, b, "u", "55", "0")
		rel2, err := b.l.Release(ctx, "u", h2.ID)
		require.NoError(t, err)
		require.Equal(t, ledger.HoldReleased, rel2.State)
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h2.ID, Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrHoldNotActive)

		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		var got []ledger.EntryKind
		for i := len(page.Entries) - 1; i >= 0; i-- {
			got = append(got, page.Entries[i].Kind)
		}
		require.Equal(t, []ledger.EntryKind{ledger.KindGrant, ledger.KindGrant, ledger.KindHold, ledger.KindHold,
			ledger.KindRelease, ledger.KindRelease, ledger.KindCapture, ledger.KindHold, ledger.KindHold,
			ledger.KindRelease, ledger.KindRelease}, got)
		requireVerified(t, b)
	})
}

func TestHoldErrors(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		grant(t, b, "u", "g1", "10", nil)
		for _, ttl := range []time.Duration{-time.Second, ledger.MaxHoldTTL + time.Microsecond} {
			_, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("1"), TTL: ttl})
			require.ErrorIs(t, err, ledger.ErrInvalidArgument, "TTL %s", ttl)
		}
		_, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("11")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "nobody", Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("0")})
		require.ErrorIs(t, err, ledger.ErrInvalidAmount)
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: "nope", Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrNotFound)
		_, err = b.l.Release(ctx, "u", "nope")
		require.ErrorIs(t, err, ledger.ErrNotFound)
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "nobody", HoldID: "nope", Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrNotFound)

		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("4"), TTL: ledger.MaxHoldTTL})
		require.NoError(t, err)
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("5")})
		require.ErrorIs(t, err, ledger.ErrInvalidAmount)
		// Nothing was written by the failures.
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		require.Len(t, page.Entries, 2)
		requireHeld(t, b, "u", "6", "4")

		// Keyed holds replay, and conflict on other parameters.
		k1, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("1"), IdempotencyKey: "k"})
		require.NoError(t, err)
		k2, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("1"), IdempotencyKey: "k"})
		require.NoError(t, err)
		require.True(t, k2.Replayed)
		require.Equal(t, k1.ID, k2.ID)
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("2"), IdempotencyKey: "k"})
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
		requireHeld(t, b, "u", "5", "5")
		requireVerified(t, b)
	})
}

func TestHoldExpiry(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		lotExpiry := t0.Add(10 * time.Minute)
		grant(t, b, "u", "g1", "10", &lotExpiry)
		grant(t, b, "u", "g2", "5", nil)
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("12"), TTL: 20 * time.Minute})
		require.NoError(t, err)
		requireHeld(t, b, "u", "3", "12")

		// The lot expires while held: nothing changes for the hold.
		b.clock.Set(lotExpiry)
		requireHeld(t, b, "u", "3", "12")

		// At the hold's expiry it is released without a sweep: the expired
		// lot's credits do not come back, the other lot's do.
		b.clock.Set(h.ExpiresAt)
		requireHeld(t, b, "u", "5", "0")
		holds, err := b.l.Holds(ctx, "u")
		require.NoError(t, err)
		require.Empty(t, holds)
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrHoldNotActive)
		_, err = b.l.Release(ctx, "u", h.ID)
		require.ErrorIs(t, err, ledger.ErrHoldNotActive)

		// The sweep writes it: release entries, then the expired lot's
		// expiry.
		res, err := b.l.ExpireDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, res.Expired)
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		require.Equal(t, []ledger.EntryKind{ledger.KindExpire, ledger.KindRelease, ledger.KindRelease}, kinds(page.Entries[:3]))
		requireHeld(t, b, "u", "5", "0")
		// A consume of all that is available works; one more fails.
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("5")})
		require.NoError(t, err)
		requireHeld(t, b, "u", "0", "0")
		requireVerified(t, b)
	})
}

func TestCaptureFromExpiredLot(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		lotExpiry := t0.Add(5 * time.Minute)
		grant(t, b, "u", "g1", "10", &lotExpiry)
		grant(t, b, "u", "g2", "10", nil)
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("8")})
		require.NoError(t, err)
		b.clock.Set(lotExpiry.Add(time.Minute))
		// The lot expired while held: the capture still spends from it,
		// and what it releases to it expires in the same write.
		rec, err := b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("6")})
		require.NoError(t, err)
		require.True(t, d("10").Equal(rec.Balance), "balance %s", rec.Balance)
		requireHeld(t, b, "u", "10", "0")
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		// Newest first: the expiry of the 2 released to the expired lot
		// (after the sweep of its other 2), then the capture's entries.
		require.Equal(t, ledger.KindExpire, page.Entries[0].Kind)
		require.True(t, d("-2").Equal(page.Entries[0].Amount))
		requireVerified(t, b)
	})
}

func TestReverse(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		g := grant(t, b, "u", "pack", "100", nil)
		c, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("30"), IdempotencyKey: "call-1"})
		require.NoError(t, err)
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("20")})
		require.NoError(t, err)
		requireHeld(t, b, "u", "50", "20")

		// A consume reversed by its key, in two parts.
		ten := d("10")
		r1, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", Key: "call-1", Amount: &ten})
		require.NoError(t, err)
		require.Len(t, r1.Entries, 1)
		require.Equal(t, ledger.KindReverse, r1.Entries[0].Kind)
		require.Equal(t, c.OperationID, r1.Entries[0].Ref)
		require.True(t, d("10").Equal(r1.Entries[0].Amount))
		require.True(t, d("60").Equal(r1.Balance))
		r2, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: c.OperationID})
		require.NoError(t, err)
		require.True(t, d("20").Equal(r2.Entries[0].Amount))
		requireHeld(t, b, "u", "80", "20")
		// Nothing is left: no entries, nothing written.
		r3, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: c.OperationID})
		require.NoError(t, err)
		require.Empty(t, r3.Entries)
		require.True(t, d("80").Equal(r3.Balance))

		// The grant's reversal takes back what remains, never held credits.
		rg, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: g.OperationID, IdempotencyKey: "refund"})
		require.NoError(t, err)
		require.True(t, d("-80").Equal(rg.Entries[0].Amount))
		requireHeld(t, b, "u", "0", "20")
		again, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: g.OperationID, IdempotencyKey: "refund"})
		require.NoError(t, err)
		require.True(t, again.Replayed)

		// Reversing a reversal, a hold, or nothing known.
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: rg.OperationID})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: h.ID})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u"})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: "x", Key: "y"})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: "nope"})
		require.ErrorIs(t, err, ledger.ErrNotFound)
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", Key: "nope"})
		require.ErrorIs(t, err, ledger.ErrNotFound)

		// The capture of the hold can be reversed like a consume.
		cap, err := b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("15")})
		require.NoError(t, err)
		requireHeld(t, b, "u", "5", "0")
		rc, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: cap.OperationID})
		require.NoError(t, err)
		require.True(t, d("15").Equal(rc.Entries[0].Amount))
		requireHeld(t, b, "u", "20", "0")
		requireVerified(t, b)
	})
}

func TestBalanceAt(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		_, err := b.l.BalanceAt(ctx, "u", t0)
		require.ErrorIs(t, err, ledger.ErrNotFound)
		grant(t, b, "u", "g1", "10", tp(t0.Add(time.Hour)))
		b.clock.Add(time.Minute)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("3")})
		require.NoError(t, err)
		b.clock.Add(time.Minute)
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("4"), TTL: 10 * time.Minute})
		require.NoError(t, err)
		b.clock.Add(2 * time.Hour)

		at := func(when time.Time, avail, held string, lots int) {
			t.Helper()
			bal, err := b.l.BalanceAt(ctx, "u", when)
			require.NoError(t, err)
			require.True(t, d(avail).Equal(bal.Available), "available at %s: want %s, got %s", when, avail, bal.Available)
			require.True(t, d(held).Equal(bal.Held), "held at %s: want %s, got %s", when, held, bal.Held)
			require.Len(t, bal.Lots, lots)
		}
		at(t0.Add(-time.Second), "0", "0", 0)
		at(t0, "10", "0", 1)
		at(t0.Add(time.Minute), "7", "0", 1)
		at(t0.Add(2*time.Minute), "3", "4", 1)
		at(h.ExpiresAt.Add(-time.Microsecond), "3", "4", 1)
		at(h.ExpiresAt, "7", "0", 1) // expired hold: back in its lot
		at(t0.Add(time.Hour), "0", "0", 0)
		// Now equals Balance.
		now, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		at(b.clock.Now(), now.Available.String(), now.Held.String(), len(now.Lots))
		_, err = b.l.BalanceAt(ctx, "u", b.clock.Now().Add(time.Second))
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		requireVerified(t, b)
	})
}

// TestBalanceAtNanosecondNow: an instant read from a clock with
// nanoseconds just before the call is not "after now", though the
// ledger's own now is cut to the microsecond (#19, defect 1: refused in
// most calls with time.Now()).
func TestBalanceAtNanosecondNow(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		grant(t, b, "u", "g1", "10", nil)
		b.clock.Add(time.Minute + 1500*time.Nanosecond)
		at := b.clock.Now()
		require.NotZero(t, at.Nanosecond()%1000, "the clock must have nanoseconds for this test")
		bal, err := b.l.BalanceAt(ctx, "u", at)
		require.NoError(t, err)
		require.True(t, d("10").Equal(bal.Available), "available %s, want 10", bal.Available)
		require.Equal(t, at.Truncate(time.Microsecond), bal.At)
		// A microsecond later is still after now.
		_, err = b.l.BalanceAt(ctx, "u", at.Add(time.Microsecond))
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
	})
}

// TestHoldTTLBelowAMicrosecond: stores keep microseconds, so a TTL of
// 1-999 ns once made a hold that had expired when it was made; it is
// refused, and writes nothing (#19, defect 3).
func TestHoldTTLBelowAMicrosecond(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		grant(t, b, "u", "g1", "10", nil)
		for _, ttl := range []time.Duration{time.Nanosecond, 999 * time.Nanosecond} {
			h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("4"), TTL: ttl})
			require.ErrorIs(t, err, ledger.ErrInvalidArgument, "TTL %s", ttl)
			require.ErrorContains(t, err, ttl.String())
			require.Nil(t, h)
		}
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		require.Len(t, page.Entries, 1, "a refused hold wrote entries")
		requireHeld(t, b, "u", "10", "0")

		// One microsecond is the shortest hold: it holds until then.
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("4"), TTL: time.Microsecond})
		require.NoError(t, err)
		require.Equal(t, ledger.HoldActive, h.State)
		require.Equal(t, h.CreatedAt.Add(time.Microsecond), h.ExpiresAt)
		requireHeld(t, b, "u", "6", "4")
		b.clock.Add(time.Microsecond)
		requireHeld(t, b, "u", "10", "0")
		requireVerified(t, b)
	})
}

var _ = errors.Is

// TestReverseToExpiredLot: credits a reversal gives back to a lot that
// has expired are expired by the same write, never available.
func TestReverseToExpiredLot(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		exp := t0.Add(time.Hour)
		grant(t, b, "u", "g1", "10", &exp)
		grant(t, b, "u", "g2", "5", nil)
		c, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("12")})
		require.NoError(t, err)
		b.clock.Set(exp)
		requireHeld(t, b, "u", "3", "0")
		rec, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: c.OperationID})
		require.NoError(t, err)
		require.Len(t, rec.Entries, 2)
		require.True(t, d("5").Equal(rec.Balance), "only the unexpired lot's 2 come back: %s", rec.Balance)
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		require.Equal(t, ledger.KindExpire, page.Entries[0].Kind)
		require.True(t, d("-10").Equal(page.Entries[0].Amount))
		requireHeld(t, b, "u", "5", "0")
		requireVerified(t, b)
	})
}

// TestDistributeSweepsExpiredHolds: an account's next expiry time covers
// its active holds, so Distribute records a hold's expiry.
func TestDistributeSweepsExpiredHolds(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		grant(t, b, "u", "g1", "10", nil)
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("4"), TTL: time.Minute})
		require.NoError(t, err)
		a, err := b.store.Account(ctx, "u")
		require.NoError(t, err)
		require.NotNil(t, a.NextExpiryAt)
		require.True(t, h.ExpiresAt.Equal(*a.NextExpiryAt), "next expiry %s, hold's %s", a.NextExpiryAt, h.ExpiresAt)

		b.clock.Set(h.ExpiresAt)
		_, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		require.Equal(t, ledger.KindRelease, page.Entries[0].Kind)
		require.Equal(t, h.ID, page.Entries[0].Ref)
		hs, err := b.store.Holds(ctx, storage.HoldQuery{Account: "u", ID: h.ID})
		require.NoError(t, err)
		require.Equal(t, storage.HoldExpired, hs[0].State)
		require.True(t, h.ExpiresAt.Equal(*hs[0].EndedAt))
		a, err = b.store.Account(ctx, "u")
		require.NoError(t, err)
		require.Nil(t, a.NextExpiryAt, "nothing left to expire")
		requireHeld(t, b, "u", "10", "0")
		requireVerified(t, b)
	})
}
