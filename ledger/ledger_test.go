package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

func TestGrantConsumeBalance(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()

		rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u1", Source: "purchase_package", IdempotencyKey: "inv-1", Amount: d("100")})
		require.NoError(t, err)
		require.False(t, rec.Replayed)
		require.True(t, d("100").Equal(rec.Balance))
		require.Len(t, rec.Entries, 1)
		require.Equal(t, ledger.KindGrant, rec.Entries[0].Kind)
		require.True(t, d("100").Equal(rec.Entries[0].Amount))
		require.Equal(t, "purchase_package", rec.Entries[0].Source)

		rec, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u1", Amount: d("30")})
		require.NoError(t, err)
		require.True(t, d("70").Equal(rec.Balance))
		require.Len(t, rec.Entries, 1)
		require.True(t, d("-30").Equal(rec.Entries[0].Amount))
		require.True(t, d("70").Equal(rec.Entries[0].BalanceAfter))
		requireBalance(t, b, "u1", "70")
		requireVerified(t, b)
	})
}

func TestBurnOrder(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		grant := func(key string, amount string, expires *time.Time, priority int) string {
			rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: key, Amount: d(amount), ExpiresAt: expires, Priority: priority})
			require.NoError(t, err)
			b.clock.Add(time.Second) // distinct created times
			return rec.Entries[0].LotID
		}
		never := grant("never", "10", nil, 0)
		late := grant("late", "10", tp(t0.Add(72*time.Hour)), 0)
		soon := grant("soon", "10", tp(t0.Add(24*time.Hour)), 0)
		soonToo := grant("soon-too", "10", tp(t0.Add(24*time.Hour)), 0) // same expiry, created later
		urgent := grant("priority", "10", nil, -1)                      // lower priority burns first

		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		var order []string
		for _, lot := range bal.Lots {
			order = append(order, lot.ID)
		}
		want := []string{urgent, soon, soonToo, late, never}
		require.Equal(t, want, order)

		// Spending 45 drains the first four lots and half of the next one,
		// in that order.
		rec, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("45")})
		require.NoError(t, err)
		var drawn []string
		for _, e := range rec.Entries {
			drawn = append(drawn, e.LotID)
		}
		require.Equal(t, want, drawn)
		require.True(t, d("-5").Equal(rec.Entries[4].Amount))
		requireBalance(t, b, "u", "5")
		requireVerified(t, b)
	})
}

func TestExpiryIsExactWithoutSweep(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		exp := t0.Add(time.Hour)
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "a", Amount: d("50"), ExpiresAt: &exp})
		require.NoError(t, err)
		_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "b", Amount: d("5")})
		require.NoError(t, err)

		b.clock.Set(exp.Add(-time.Microsecond))
		requireBalance(t, b, "u", "55")

		// At the instant of expiry, with no sweep run, the lot is gone.
		b.clock.Set(exp)
		requireBalance(t, b, "u", "5")
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("6")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)

		// A consume writes the due expiry first, in its own transaction.
		rec, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("5")})
		require.NoError(t, err)
		require.True(t, rec.Balance.IsZero())
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		kinds := []ledger.EntryKind{}
		for _, e := range page.Entries {
			kinds = append(kinds, e.Kind)
		}
		require.Equal(t, []ledger.EntryKind{ledger.KindConsume, ledger.KindExpire, ledger.KindGrant, ledger.KindGrant}, kinds)
		require.True(t, page.Entries[0].BalanceAfter.IsZero())
		requireVerified(t, b)
	})
}

func TestGrantIdempotency(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		p := ledger.GrantParams{Account: "u", IdempotencyKey: "inv-9", Amount: d("100"), Source: "purchase_package", Metadata: map[string]string{"invoice": "9"}}
		first, err := b.l.Grant(ctx, p)
		require.NoError(t, err)

		again, err := b.l.Grant(ctx, p)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, first.OperationID, again.OperationID)
		require.Equal(t, first.Entries[0].ID, again.Entries[0].ID)
		require.True(t, first.Balance.Equal(again.Balance))
		requireBalance(t, b, "u", "100")

		other := p
		other.Amount = d("200")
		_, err = b.l.Grant(ctx, other)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)

		// Keys are scoped per account: the same key on another account
		// is another call, even with other parameters.
		elsewhere := other
		elsewhere.Account = "v"
		onV, err := b.l.Grant(ctx, elsewhere)
		require.NoError(t, err)
		require.False(t, onV.Replayed)
		require.NotEqual(t, first.OperationID, onV.OperationID)
		requireBalance(t, b, "v", "200")
		requireBalance(t, b, "u", "100")
		againOnV, err := b.l.Grant(ctx, elsewhere)
		require.NoError(t, err)
		require.True(t, againOnV.Replayed)
		require.Equal(t, onV.OperationID, againOnV.OperationID)
		requireBalance(t, b, "v", "200")
		unknown := p
		unknown.Account = "w"
		unknown.Amount = d("0")
		_, err = b.l.Grant(ctx, unknown)
		require.Error(t, err)
		_, err = b.l.Balance(ctx, "w")
		require.ErrorIs(t, err, ledger.ErrNotFound, "a refused grant must not create its account")

		requireBalance(t, b, "u", "100")
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		require.Len(t, page.Entries, 1)
	})
}

func TestConcurrentDuplicateGrantsGrantOnce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		const n = 30
		var wg sync.WaitGroup
		var replayed, fresh atomic.Int32
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "webhook-1", Amount: d("500")})
				if err != nil {
					errs <- err
					return
				}
				if rec.Replayed {
					replayed.Add(1)
				} else {
					fresh.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.EqualValues(t, 1, fresh.Load())
		require.EqualValues(t, n-1, replayed.Load())
		requireBalance(t, b, "u", "500")
		requireVerified(t, b)
	})
}

func TestConsumeInsufficientWritesNothing(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: d("10")})
		require.NoError(t, err)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("11"), IdempotencyKey: "c1"})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		requireBalance(t, b, "u", "10")
		page, err := b.l.Entries(ctx, "u", nil)
		require.NoError(t, err)
		require.Len(t, page.Entries, 1)

		// The refused key was not recorded: the same key can succeed later.
		rec, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("10"), IdempotencyKey: "c1"})
		require.NoError(t, err)
		require.False(t, rec.Replayed)

		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "nobody", Amount: d("1")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		require.ErrorIs(t, err, ledger.ErrNotFound)
		_, err = b.l.Balance(ctx, "nobody")
		require.ErrorIs(t, err, ledger.ErrNotFound)
	})
}

func TestConsumeIdempotency(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: d("10")})
		require.NoError(t, err)
		p := ledger.ConsumeParams{Account: "u", Amount: d("4"), IdempotencyKey: "req-1"}
		first, err := b.l.Consume(ctx, p)
		require.NoError(t, err)
		again, err := b.l.Consume(ctx, p)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, first.OperationID, again.OperationID)
		requireBalance(t, b, "u", "6")
		p.Amount = d("5")
		_, err = b.l.Consume(ctx, p)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
		// Unkeyed consumes are not deduplicated.
		for range 2 {
			_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("1")})
			require.NoError(t, err)
		}
		requireBalance(t, b, "u", "4")
	})
}

func TestConcurrentConsumersNeverOverspend(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		// 100 credits over three lots; 100 goroutines each take 3: exactly
		// floor(100/3) = 33 may succeed.
		for i, amount := range []string{"40", "35", "25"} {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "hot", IdempotencyKey: fmt.Sprint("g", i), Amount: d(amount), ExpiresAt: tp(t0.Add(time.Duration(i+1) * time.Hour))})
			require.NoError(t, err)
		}
		const workers = 100
		var ok, short atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "hot", Amount: d("3")})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ledger.ErrInsufficientCredits):
					short.Add(1)
				default:
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.EqualValues(t, 33, ok.Load())
		require.EqualValues(t, 67, short.Load())
		requireBalance(t, b, "hot", "1")
		requireVerified(t, b)
	})
}

func TestInvalidInputWritesNothing(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Scale: 2})
		ctx := t.Context()
		long := strings.Repeat("k", 256)
		cases := []struct {
			name string
			p    ledger.GrantParams
			want error
		}{
			{"zero", ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("0")}, ledger.ErrInvalidAmount},
			{"negative", ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("-1")}, ledger.ErrInvalidAmount},
			{"too many places", ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("1.001")}, ledger.ErrInvalidAmount},
			{"overflow", ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("92233720368547758.08")}, ledger.ErrInvalidAmount},
			{"empty account", ledger.GrantParams{IdempotencyKey: "k", Amount: d("1")}, ledger.ErrInvalidArgument},
			{"long account", ledger.GrantParams{Account: long, IdempotencyKey: "k", Amount: d("1")}, ledger.ErrInvalidArgument},
			{"empty key", ledger.GrantParams{Account: "u", Amount: d("1")}, ledger.ErrInvalidArgument},
			{"long key", ledger.GrantParams{Account: "u", IdempotencyKey: long, Amount: d("1")}, ledger.ErrInvalidArgument},
			{"NUL in key", ledger.GrantParams{Account: "u", IdempotencyKey: "a\x00b", Amount: d("1")}, ledger.ErrInvalidArgument},
			{"bad UTF-8 account", ledger.GrantParams{Account: "\xff", IdempotencyKey: "k", Amount: d("1")}, ledger.ErrInvalidArgument},
			{"reserved key", ledger.GrantParams{Account: "u", IdempotencyKey: "creditledger:gift:u", Amount: d("1")}, ledger.ErrInvalidArgument},
			{"expired already", ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("1"), ExpiresAt: tp(t0)}, ledger.ErrInvalidArgument},
		}
		for _, tc := range cases {
			_, err := b.l.Grant(ctx, tc.p)
			require.ErrorIs(t, err, tc.want, tc.name)
		}
		_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("0.001")})
		require.ErrorIs(t, err, ledger.ErrInvalidAmount)
		_, err = b.l.Balance(ctx, "u")
		require.ErrorIs(t, err, ledger.ErrNotFound, "no refused call may create the account")

		// The largest amount that fits is accepted; one more credit than it
		// on the same account would overflow the balance and is refused.
		_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "max", Amount: d("92233720368547758.07")})
		require.NoError(t, err)
		_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "more", Amount: d("0.01")})
		require.ErrorIs(t, err, ledger.ErrInvalidAmount)
		requireBalance(t, b, "u", "92233720368547758.07")
	})
}

func TestScaleKeptAndChecked(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Scale: 2})
		ctx := t.Context()
		rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("1.25")})
		require.NoError(t, err)
		require.True(t, d("1.25").Equal(rec.Balance))
		_, err = ledger.New(b.store, &ledger.Config{Scale: 0})
		require.ErrorIs(t, err, ledger.ErrScaleMismatch)
	})
}

func TestEntriesPaginate(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		for i := range 7 {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: fmt.Sprint("k", i), Amount: decimal.NewFromInt(int64(i + 1))})
			require.NoError(t, err)
		}
		var amounts []string
		cursor := ""
		pages := 0
		for {
			page, err := b.l.Entries(ctx, "u", &ledger.ListOpts{Limit: 3, Cursor: cursor})
			require.NoError(t, err)
			pages++
			for _, e := range page.Entries {
				amounts = append(amounts, e.Amount.String())
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		require.Equal(t, 3, pages)
		require.Equal(t, []string{"7", "6", "5", "4", "3", "2", "1"}, amounts)
		_, err := b.l.Entries(ctx, "u", &ledger.ListOpts{Cursor: "x"})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		_, err = b.l.Entries(ctx, "u", &ledger.ListOpts{Limit: ledger.MaxPageSize + 1})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		_, err = b.l.Entries(ctx, "nobody", nil)
		require.ErrorIs(t, err, ledger.ErrNotFound)
	})
}

func TestVerifyFindsCorruptBalance(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "k", Amount: d("10")})
		require.NoError(t, err)
		requireVerified(t, b)

		// Corrupt the booked balance through the store, as a bad migration
		// or a hand-written UPDATE would.
		err = b.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
			if err != nil {
				return err
			}
			a := accts[0]
			return tx.Apply(ctx, &storage.Batch{Accounts: []storage.AccountUpdate{{ID: a.ID, Balance: a.Balance + 5, Seq: a.Seq, NextGrantAt: a.NextGrantAt, NextExpiryAt: a.NextExpiryAt}}})
		})
		require.NoError(t, err)
		rep, err := b.l.Verify(ctx)
		require.NoError(t, err)
		require.False(t, rep.OK())
		require.Equal(t, 1, rep.Accounts)
		require.Contains(t, rep.Violations[0].String(), "balance is 15")
	})
}

func TestExpireDue(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		for i := range 5 {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: fmt.Sprint("u", i), IdempotencyKey: fmt.Sprint("k", i), Amount: d("10"), ExpiresAt: tp(t0.Add(time.Duration(i+1) * time.Hour))})
			require.NoError(t, err)
		}
		b.clock.Set(t0.Add(3 * time.Hour))
		res, err := b.l.ExpireDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, res.Expired)
		require.True(t, d("30").Equal(res.ExpiredCredits))
		require.True(t, res.Complete)
		// Nothing more is due: a second sweep writes nothing.
		res, err = b.l.ExpireDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, res.Expired)
		requireBalance(t, b, "u3", "10")
		requireVerified(t, b)
	})
}

func TestGrantExpiresInReplaysLater(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		p := ledger.GrantParams{Account: "u", IdempotencyKey: "inv-1", Amount: d("100"), ExpiresIn: 30 * 24 * time.Hour}
		first, err := b.l.Grant(ctx, p)
		require.NoError(t, err)
		bal, err := b.l.Balance(ctx, "u")
		require.NoError(t, err)
		require.True(t, t0.Add(30*24*time.Hour).Equal(*bal.Lots[0].ExpiresAt))

		// The webhook is redelivered an hour later: a replay, not a
		// conflict, and the expiry stays that of the first delivery.
		b.clock.Add(time.Hour)
		again, err := b.l.Grant(ctx, p)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, first.OperationID, again.OperationID)

		p.ExpiresAt = tp(t0.Add(48 * time.Hour))
		_, err = b.l.Grant(ctx, p)
		require.ErrorIs(t, err, ledger.ErrInvalidArgument, "ExpiresIn and ExpiresAt together")
	})
}
