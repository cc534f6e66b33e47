package policy_test

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/policy"
)

func TestFeaturesAndPoolsJSON(t *testing.T) {
	t.Parallel()
	c, err := policy.ParseCatalog([]byte(`{
		"plans": [],
		"signupGift": {"amount": "5", "pool": "chat"},
		"packs": [{"id": "img", "amount": "40", "pool": "image"}],
		"features": [{"id": "image_hd", "pool": "image", "price": "2.5"}, {"id": "chat", "price": 1}]
	}`))
	require.NoError(t, err)
	require.Equal(t, "chat", c.SignupGift.Pool)
	require.Equal(t, "image", c.Packs[0].Pool)
	f, ok := c.Feature("image_hd")
	require.True(t, ok)
	require.Equal(t, "image", f.Pool)
	require.True(t, f.Price.Equal(decimal.RequireFromString("2.5")))
	f, ok = c.Feature("chat")
	require.True(t, ok)
	require.Equal(t, "", f.Pool)
	_, ok = c.Feature("video")
	require.False(t, ok)

	data, err := json.Marshal(c)
	require.NoError(t, err)
	again, err := policy.ParseCatalog(data)
	require.NoError(t, err)
	require.Equal(t, c, again, "the pools and features survive a round trip")

	for name, js := range map[string]string{
		"zero price":     `{"plans": [], "features": [{"id": "a", "price": "0"}]}`,
		"negative price": `{"plans": [], "features": [{"id": "a", "price": "-2"}]}`,
		"duplicate":      `{"plans": [], "features": [{"id": "a", "price": "1"}, {"id": "a", "price": "2"}]}`,
		"no id":          `{"plans": [], "features": [{"price": "1"}]}`,
		"unknown field":  `{"plans": [], "features": [{"id": "a", "price": "1", "cost": 2}]}`,
	} {
		_, err := policy.ParseCatalog([]byte(js))
		require.ErrorIs(t, err, policy.ErrInvalidCatalog, name)
	}
	var nilCatalog *policy.Catalog
	_, ok = nilCatalog.Feature("a")
	require.False(t, ok)
}
