package bunstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// With Options.Parallel, one Distribute serves several chunks at once:
// every account is served once, failures are counted once, budgets and
// concurrent calls still share the work, and Verify finds nothing wrong.
func TestParallelDistribute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := bunstore.OpenWith(ctx, postgresDSN(t), &bunstore.Options{Parallel: 3})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Equal(t, 3, s.MaxParallelTx())
	require.Equal(t, 1, s.WithTx(s.DB()).MaxParallelTx(), "a bound store runs one transaction at a time")
	sq := testdb.Open(t, sqlitePath(t))
	require.Equal(t, 1, sq.MaxParallelTx(), "SQLite has one writer")

	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	catalog := &policy.Catalog{
		DefaultPlan: "free",
		Plans: []policy.Plan{{
			ID:         "free",
			Allocation: policy.MonthlyCalendar(decimal.NewFromInt(50), "monthly_refresh"),
			Expiry:     policy.AfterDays(30),
		}},
	}
	l, err := ledger.New(s, &ledger.Config{Catalog: catalog, Now: func() time.Time { return now }})
	require.NoError(t, err)
	const accounts = 1500
	ps := make([]ledger.PlanParams, accounts)
	for i := range ps {
		ps[i] = ledger.PlanParams{Account: fmt.Sprintf("acct-%05d", i), Plan: "free"}
	}
	require.NoError(t, l.SetPlans(ctx, ps))
	// Accounts on a plan the catalog no longer has: errors, counted once.
	bad, err := ledger.New(s, &ledger.Config{Catalog: &policy.Catalog{Plans: []policy.Plan{{ID: "gone"}}}, Now: func() time.Time { return now }})
	require.NoError(t, err)
	require.NoError(t, bad.SetPlans(ctx, []ledger.PlanParams{{Account: "acct-00100x", Plan: "gone"}, {Account: "acct-01200x", Plan: "gone"}}))

	res, err := l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: 50})
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, accounts, res.Granted)
	require.Equal(t, accounts+2, res.Accounts)
	require.Equal(t, 2, res.Errors)
	require.Equal(t, accounts, res.Processed)

	// A month later, several parallel calls at once share the work.
	now = now.AddDate(0, 1, 0)
	var wg sync.WaitGroup
	results := make([]*ledger.DistributeResult, 3)
	errs := make([]error, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: 40})
		}()
	}
	wg.Wait()
	granted, expired := 0, 0
	for i := range results {
		require.NoError(t, errs[i])
		granted += results[i].Granted
		expired += results[i].Expired
	}
	require.Equal(t, accounts, granted)
	require.Equal(t, accounts, expired)
	report, err := l.Verify(ctx)
	require.NoError(t, err)
	require.True(t, report.OK(), "violations: %v", report.Violations)
}
