package policy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

// Thresholds and the expiring notice, in Go and in JSON.
func TestCatalogEventSettings(t *testing.T) {
	t.Parallel()
	c, err := policy.ParseCatalog([]byte(`{
		"lowBalance": {"": "20"},
		"expiringNotice": "72h",
		"plans": [{"id": "pro", "lowBalance": {"": "50", "image": "5"}}, {"id": "free"}]
	}`))
	require.NoError(t, err)
	require.True(t, decimal.NewFromInt(20).Equal(c.LowBalance[""]))
	require.Equal(t, 72*time.Hour, c.ExpiringNotice)
	v, ok := c.LowBalanceOf("pro", "")
	require.True(t, ok)
	require.True(t, decimal.NewFromInt(50).Equal(v), "the plan's own")
	v, ok = c.LowBalanceOf("free", "")
	require.True(t, ok)
	require.True(t, decimal.NewFromInt(20).Equal(v), "the catalog's default")
	_, ok = c.LowBalanceOf("free", "image")
	require.False(t, ok, "none for that pool")

	out, err := json.Marshal(c)
	require.NoError(t, err)
	back, err := policy.ParseCatalog(out)
	require.NoError(t, err)
	require.Equal(t, c.ExpiringNotice, back.ExpiringNotice)
	require.True(t, c.Plans[0].LowBalance["image"].Equal(back.Plans[0].LowBalance["image"]), string(out))

	for _, bad := range []string{
		`{"lowBalance": {"": "-1"}, "plans": []}`,
		`{"plans": [{"id": "p", "lowBalance": {"": "-0.5"}}]}`,
		`{"expiringNotice": "10ms", "plans": []}`,
		`{"expiringNotice": "soon", "plans": []}`,
	} {
		_, err := policy.ParseCatalog([]byte(bad))
		require.ErrorIs(t, err, policy.ErrInvalidCatalog, bad)
	}
}
