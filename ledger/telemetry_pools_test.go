package ledger_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/creditledger/creditledger/ledger"
)

// TestTelemetryPools: credits of a pool other than the default one carry
// a pool attribute (the default pool's none, as before pools), and an
// unknown feature is its own outcome.
func TestTelemetryPools(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reader := sdkmetric.NewManualReader()
	b := setup(t, testKindsMemory, &ledger.Config{Catalog: poolCatalog(), MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Amount: d("10")})
	require.NoError(t, err)
	_, err = b.l.GrantPack(ctx, "u", "images", "g2")
	require.NoError(t, err)
	_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Feature: "render", Quantity: d("2")})
	require.NoError(t, err)
	_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Feature: "video", Quantity: d("2")})
	require.ErrorIs(t, err, ledger.ErrUnknownFeature)

	m := collect(t, reader)
	pool := attribute.String("pool", "image")
	require.EqualValues(t, 50, m.sum(ledger.MetricCreditsGranted))
	require.EqualValues(t, 40, m.sum(ledger.MetricCreditsGranted, pool))
	require.EqualValues(t, 5, m.sum(ledger.MetricCreditsConsumed, pool))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, attribute.String("kind", "consume"), attribute.String("outcome", "unknown_feature")))
}
