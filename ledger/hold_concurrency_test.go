package ledger_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// TestConcurrentHolds: 40 holds of 7 at once on an account of 100 (in
// three lots): exactly 14 succeed, the others fail with
// ErrInsufficientCredits, and never more is reserved than there is.
func TestConcurrentHolds(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		grant(t, b, "u", "g1", "30", tp(t0.Add(time.Hour)))
		grant(t, b, "u", "g2", "30", tp(t0.Add(2*time.Hour)))
		grant(t, b, "u", "g3", "40", nil)
		var ok, short atomic.Int64
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("7"), IdempotencyKey: fmt.Sprintf("h%d", i)})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ledger.ErrInsufficientCredits):
					short.Add(1)
				default:
					t.Errorf("hold %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		require.EqualValues(t, 14, ok.Load())
		require.EqualValues(t, 26, short.Load())
		requireHeld(t, b, "u", "2", "98")
		holds, err := b.l.Holds(ctx, "u")
		require.NoError(t, err)
		require.Len(t, holds, 14)
		requireVerified(t, b)
	})
}

// TestHoldsRaceConsumesReversalsAndDistribute runs holds, captures,
// releases, consumes, reversals and Distribute at once on a few accounts,
// with the clock moving (holds expire), and then requires every invariant:
// Verify clean, Balance = BalanceAt now, available + held = what the
// entries say is booked on unexpired lots, no hold active past its expiry.
func TestHoldsRaceConsumesReversalsAndDistribute(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: testCatalog(nil)})
		ctx := t.Context()
		accounts := []string{"a", "b", "c"}
		for _, a := range accounts {
			grant(t, b, a, "seed", "500", nil)
		}
		const workers, rounds = 8, 25
		var wg sync.WaitGroup
		var captured, reversed atomic.Int64
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					acct := accounts[(w+r)%len(accounts)]
					switch (w + r) % 5 {
					case 0, 1:
						h, err := b.l.Hold(ctx, ledger.HoldParams{Account: acct, Amount: decimal.NewFromInt(int64(1 + r%9)), TTL: time.Duration(1+r%3) * time.Minute})
						if err != nil {
							require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
							continue
						}
						if r%2 == 0 {
							_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: acct, HoldID: h.ID, Amount: decimal.NewFromInt(1)})
							if err == nil {
								captured.Add(1)
							} else {
								require.ErrorIs(t, err, ledger.ErrHoldNotActive) // expired meanwhile
							}
						} else if r%3 == 0 {
							_, err = b.l.Release(ctx, acct, h.ID)
							if err != nil {
								require.ErrorIs(t, err, ledger.ErrHoldNotActive)
							}
						} // else: left to expire
					case 2, 3:
						rec, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: acct, Amount: decimal.NewFromInt(int64(1 + r%5))})
						if err != nil {
							require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
							continue
						}
						if r%2 == 0 {
							rv, err := b.l.Reverse(ctx, ledger.ReverseParams{Account: acct, OperationID: rec.OperationID})
							require.NoError(t, err)
							if len(rv.Entries) > 0 {
								reversed.Add(1)
							}
						}
					default:
						b.clock.Add(20 * time.Second)
						_, err := b.l.Distribute(ctx, nil)
						require.NoError(t, err)
					}
				}
			}()
		}
		wg.Wait()
		require.Positive(t, captured.Load())
		require.Positive(t, reversed.Load())
		now := b.clock.Now()
		for _, a := range accounts {
			bal, err := b.l.Balance(ctx, a)
			require.NoError(t, err)
			at, err := b.l.BalanceAt(ctx, a, now)
			require.NoError(t, err)
			require.True(t, bal.Available.Equal(at.Available), "%s: %s vs %s", a, bal.Available, at.Available)
			require.True(t, bal.Held.Equal(at.Held), "%s held: %s vs %s", a, bal.Held, at.Held)
			holds, err := b.l.Holds(ctx, a)
			require.NoError(t, err)
			var held decimal.Decimal
			for _, h := range holds {
				require.True(t, h.ExpiresAt.After(now))
				held = held.Add(h.Amount)
			}
			require.True(t, held.Equal(bal.Held), "%s: active holds sum %s, Held %s", a, held, bal.Held)
		}
		requireVerified(t, b)
		// After every hold's expiry and a sweep, nothing is held and the
		// sweep wrote every release.
		b.clock.Add(time.Hour)
		_, err := b.l.ExpireDue(ctx)
		require.NoError(t, err)
		for _, a := range accounts {
			requireHeldZero(t, b, a)
			hs, err := b.store.Holds(ctx, storage.HoldQuery{Account: a, OnlyActive: true})
			require.NoError(t, err)
			require.Empty(t, hs, "the sweep ends every expired hold of %s", a)
		}
		requireVerified(t, b)
	})
}

func requireHeldZero(t *testing.T, b *bundle, account string) {
	t.Helper()
	bal, err := b.l.Balance(t.Context(), account)
	require.NoError(t, err)
	require.True(t, bal.Held.IsZero(), "held of %s: %s", account, bal.Held)
}
