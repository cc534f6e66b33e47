package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
)

// testClock is real time shifted by an offset that a test moves forward.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) set(off time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = off
}

// chartAccount is the account whose three months newChartStory writes.
const chartAccount = "acme-chart"

// newChartStory returns a console whose ledger has lived 92 days: the
// demo accounts, and chartAccount on pro_yearly (1000 credits a month
// that expire after 30 days) spending every second day, buying a pack
// once; the distribution ran every 15 days. The clock ends at real time.
func newChartStory(t *testing.T) *consoleEnv {
	t.Helper()
	ctx := context.Background()
	clock := &testClock{off: -92 * 24 * time.Hour}
	e := newConsoleClock(t, clock.now)
	require.NoError(t, e.l.SetPlan(ctx, ledger.PlanParams{Account: chartAccount, Plan: "pro_yearly"}))
	for day := -92; day <= 0; day++ {
		clock.set(time.Duration(day) * 24 * time.Hour)
		if (day+92)%15 == 0 {
			ans := e.s.runNow(ctx)
			require.Equal(t, http.StatusOK, ans.Status, ans.Error)
		}
		if day == -50 {
			_, err := e.l.GrantPack(ctx, chartAccount, "premium", "story-pack")
			require.NoError(t, err)
		}
		if day%2 == 0 {
			amount := decimal.NewFromInt(int64(20 + (day*day*7)%60))
			_, err := e.l.Consume(ctx, ledger.ConsumeParams{Account: chartAccount, Amount: amount,
				IdempotencyKey: "story-" + time.Duration(day).String(), Description: "AI calls"})
			if !errors.Is(err, ledger.ErrInsufficientCredits) {
				require.NoError(t, err)
			}
		}
	}
	clock.set(0)
	return e
}
