package ledger_test

import (
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

// bundle is what a test gets from setup.
type bundle struct {
	l     *ledger.Ledger
	store storage.Store
	clock *clock
}

// eachStore runs fn as a subtest once per store: memory always, SQLite
// always, PostgreSQL when reachable (see testdb).
func eachStore(t *testing.T, fn func(t *testing.T, newStore func(t *testing.T) storage.Store)) {
	t.Helper()
	for _, kind := range testdb.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, kind.New)
		})
	}
}

func setup(t *testing.T, newStore func(t *testing.T) storage.Store, cfg *ledger.Config) *bundle {
	t.Helper()
	var c ledger.Config
	if cfg != nil {
		c = *cfg
	}
	clk := newClock(t0)
	if c.Now == nil {
		c.Now = clk.Now
	}
	store := newStore(t)
	l, err := ledger.New(store, &c)
	require.NoError(t, err)
	return &bundle{l: l, store: store, clock: clk}
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func tp(t time.Time) *time.Time { return &t }

// requireBalance asserts an account's available balance.
func requireBalance(t *testing.T, b *bundle, account, want string) {
	t.Helper()
	bal, err := b.l.Balance(t.Context(), account)
	require.NoError(t, err)
	require.True(t, d(want).Equal(bal.Available), "balance of %s: want %s, got %s", account, want, bal.Available)
}

// requireVerified asserts that Verify finds nothing wrong.
func requireVerified(t *testing.T, b *bundle) {
	t.Helper()
	rep, err := b.l.Verify(t.Context())
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
}

// testKindsMemory makes a memory store, for tests of pure ledger logic.
func testKindsMemory(t *testing.T) storage.Store { return testdb.Kinds()[0].New(t) }
