package policy_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

func TestDefaultBurnOrderSorts(t *testing.T) {
	t.Parallel()
	at := func(s string) *time.Time { v := utc(s); return &v }
	t0 := utc("2026-01-01T00:00:00Z")
	t1 := utc("2026-01-02T00:00:00Z")
	shanghai := mustLoad(t, "Asia/Shanghai")
	// In burn order.
	want := []policy.LotInfo{
		{ID: "p-1", Priority: -1, ExpiresAt: nil, CreatedAt: t1},
		{ID: "a", Priority: 0, ExpiresAt: at("2026-02-01T00:00:00Z"), CreatedAt: t1},
		// Same expiry instant in another zone: creation time decides.
		{ID: "z-old", Priority: 0, ExpiresAt: func() *time.Time { v := utc("2026-03-01T00:00:00Z").In(shanghai); return &v }(), CreatedAt: t0},
		{ID: "b-new", Priority: 0, ExpiresAt: at("2026-03-01T00:00:00Z"), CreatedAt: t1},
		// Same expiry and creation: ID decides.
		{ID: "c1", Priority: 0, ExpiresAt: at("2026-04-01T00:00:00Z"), CreatedAt: t1},
		{ID: "c2", Priority: 0, ExpiresAt: at("2026-04-01T00:00:00Z"), CreatedAt: t1},
		// Never-expiring lots last within their priority, by creation then ID.
		{ID: "n-old", Priority: 0, ExpiresAt: nil, CreatedAt: t0},
		{ID: "n1", Priority: 0, ExpiresAt: nil, CreatedAt: t1},
		{ID: "n2", Priority: 0, ExpiresAt: nil, CreatedAt: t1},
		// A higher priority burns later, whatever its expiry.
		{ID: "p5", Priority: 5, ExpiresAt: at("2026-01-01T00:00:01Z"), CreatedAt: t0},
	}
	order := policy.DefaultBurnOrder()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		got := slices.Clone(want)
		rng.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortFunc(got, func(a, b policy.LotInfo) int {
			switch {
			case order.Less(a, b):
				return -1
			case order.Less(b, a):
				return 1
			}
			return 0
		})
		require.Equal(t, ids(want), ids(got))
	}
	// A strict total order: irreflexive, and exactly one way for distinct
	// lots.
	for i, a := range want {
		require.False(t, order.Less(a, a), "Less(%s, %s)", a.ID, a.ID)
		for j, b := range want {
			if i != j {
				require.NotEqual(t, order.Less(a, b), order.Less(b, a), "%s vs %s", a.ID, b.ID)
				require.Equal(t, i < j, order.Less(a, b), "%s vs %s", a.ID, b.ID)
			}
		}
	}
}

func ids(lots []policy.LotInfo) []string {
	out := make([]string, len(lots))
	for i, l := range lots {
		out[i] = l.ID
	}
	return out
}

func TestBurnOrderFunc(t *testing.T) {
	t.Parallel()
	// Newest first: a custom order through the adapter.
	var order policy.BurnOrder = policy.BurnOrderFunc(func(a, b policy.LotInfo) bool {
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	older := policy.LotInfo{ID: "old", CreatedAt: utc("2026-01-01T00:00:00Z")}
	newer := policy.LotInfo{ID: "new", CreatedAt: utc("2026-02-01T00:00:00Z")}
	require.True(t, order.Less(newer, older))
	require.False(t, order.Less(older, newer))
}
