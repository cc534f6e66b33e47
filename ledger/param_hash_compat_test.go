package ledger_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// TestParamHashesAsV02: a grant, a consume and a hold that name no pool,
// feature or effective time hash their parameters exactly as v0.2 did
// (the hex values were recorded by v0.2), so that a key used before
// pools replays rather than conflicts.
func TestParamHashesAsV02(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	s := testKindsMemory(t)
	l, err := ledger.New(s, &ledger.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	exp := now.Add(time.Hour)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: d("10"), ExpiresAt: &exp, Source: "s", Priority: 1,
		Metadata: map[string]string{"a": "b"}})
	require.NoError(t, err)
	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", IdempotencyKey: "c", Amount: d("2"), Description: "x"})
	require.NoError(t, err)
	_, err = l.Hold(ctx, ledger.HoldParams{Account: "u", IdempotencyKey: "h", Amount: d("3"), TTL: time.Minute})
	require.NoError(t, err)
	es, err := s.Entries(ctx, storage.EntryQuery{Account: "u", Limit: 10})
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range es {
		if e.Key != "" {
			got[e.Key] = e.ParamHash
		}
	}
	require.Equal(t, map[string]string{
		"g": "829ec34802d280da0935c003c7647884e4e1465f7af269aa33aae1dffac6315c",
		"c": "681ed6538d7707a7950e5e769e4a064224c008fec230761e26f7b23463cf0b67",
		"h": "8c43a1b58f09a4e2131f6ba95104580674d93e5585f591771d98a55a543331ca",
	}, got)
}
