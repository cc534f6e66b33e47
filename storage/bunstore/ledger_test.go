package bunstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// TestLedger runs the ledger on the store end to end: grants, concurrent
// consumes that must not overspend, the distribution, and Verify.
func TestLedger(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := open(t, db.dsn(t))
		now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
		var clockMu sync.Mutex
		clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
		catalog := &policy.Catalog{
			DefaultPlan: "free",
			Plans: []policy.Plan{{
				ID:         "free",
				Allocation: policy.MonthlyCalendar(decimal.NewFromInt(50), "monthly_refresh"),
				Expiry:     policy.AtPeriodEnd(),
			}},
		}
		l, err := ledger.New(s, &ledger.Config{Scale: 2, Catalog: catalog, Now: clock})
		require.NoError(t, err, "ledger.New initialises (and migrates) the store")

		_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", Source: "purchase_package", IdempotencyKey: "pay-1",
			Amount: decimal.RequireFromString("10.50")})
		require.NoError(t, err)
		replay, err := l.Grant(ctx, ledger.GrantParams{Account: "u", Source: "purchase_package", IdempotencyKey: "pay-1",
			Amount: decimal.RequireFromString("10.50")})
		require.NoError(t, err)
		require.True(t, replay.Replayed)

		// 30 concurrent consumes of 0.50 against 10.50: exactly 21 win.
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, short := 0, 0
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Consume(ctx, ledger.ConsumeParams{Account: "u", IdempotencyKey: fmt.Sprint("c-", i),
					Amount: decimal.RequireFromString("0.50")})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, ledger.ErrInsufficientCredits):
					short++
				default:
					t.Errorf("consume %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 21, won)
		require.Equal(t, 9, short)
		bal, err := l.Balance(ctx, "u")
		require.NoError(t, err)
		require.True(t, bal.Available.IsZero(), "balance %s", bal.Available)

		// The distribution grants every account of the default plan once.
		for i := range 5 {
			_, err := l.Grant(ctx, ledger.GrantParams{Account: fmt.Sprint("v", i), Source: "register_gift",
				IdempotencyKey: fmt.Sprint("gift-", i), Amount: decimal.NewFromInt(1)})
			require.NoError(t, err)
		}
		res, err := l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.True(t, res.Complete)
		require.Zero(t, res.Errors)
		again, err := l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Zero(t, again.Granted, "a second run in the same period grants nothing")

		// A host transaction joins the grant to its own write.
		err = s.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			_, err := l.WithStore(s.WithTx(tx)).Grant(ctx, ledger.GrantParams{Account: "w", Source: "purchase_package",
				IdempotencyKey: "pay-w", Amount: decimal.NewFromInt(3)})
			return err
		})
		require.NoError(t, err)
		bal, err = l.Balance(ctx, "w")
		require.NoError(t, err)
		require.Equal(t, "3", bal.Available.String())

		report, err := l.Verify(ctx)
		require.NoError(t, err)
		require.True(t, report.OK(), "violations: %v", report.Violations)
		require.Positive(t, report.Accounts)

		// Another ledger scale on the same database is refused.
		_, err = ledger.New(s, &ledger.Config{Scale: 0})
		require.Error(t, err)
	})
}

// TestConcurrentDistribute runs three distributions at once, as three
// replicas would: together they grant every account exactly once.
func TestConcurrentDistribute(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := open(t, db.dsn(t))
		var clockMu sync.Mutex
		now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
		catalog := &policy.Catalog{
			DefaultPlan: "free",
			Plans: []policy.Plan{{
				ID:         "free",
				Allocation: policy.MonthlyCalendar(decimal.NewFromInt(50), "monthly_refresh"),
				Expiry:     policy.AtPeriodEnd(),
			}},
		}
		l, err := ledger.New(s, &ledger.Config{Catalog: catalog, Now: clock})
		require.NoError(t, err)
		const accounts = 300
		for i := range accounts {
			_, err := l.Grant(ctx, ledger.GrantParams{Account: fmt.Sprintf("acct-%04d", i), Source: "register_gift",
				IdempotencyKey: fmt.Sprint("gift-", i), Amount: decimal.NewFromInt(1)})
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		results := make([]*ledger.DistributeResult, 3)
		errs := make([]error, 3)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = l.Distribute(ctx, nil)
			}()
		}
		wg.Wait()
		granted := 0
		for i := range results {
			require.NoError(t, errs[i])
			require.Zero(t, results[i].Errors)
			granted += results[i].Granted
		}
		require.Equal(t, accounts, granted)
		report, err := l.Verify(ctx)
		require.NoError(t, err)
		require.True(t, report.OK(), "violations: %v", report.Violations)
	})
}
