package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/creditledger/creditledger/ledger"
)

// The outbox's metrics: events written by type, delivered, redelivered,
// delivery errors, and the age of the oldest unacknowledged one.
func TestTelemetryEvents(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	clk := newClock(t0)
	l, err := ledger.New(testKindsMemory(t), &ledger.Config{Catalog: eventsCatalog(), Now: clk.Now,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	require.NoError(t, err)
	ctx := t.Context()
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d("30"), IdempotencyKey: "g"})
	require.NoError(t, err)
	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("30")})
	require.NoError(t, err)
	clk.Add(time.Minute)

	m := collect(t, reader)
	require.EqualValues(t, 1, m.sum(ledger.MetricEventsWritten, attribute.String("type", ledger.EventCreditsGranted)))
	require.EqualValues(t, 1, m.sum(ledger.MetricEventsWritten, attribute.String("type", ledger.EventBalanceLow)))
	require.EqualValues(t, 1, m.sum(ledger.MetricEventsWritten, attribute.String("type", ledger.EventBalanceDepleted)))
	requireGauge(t, m, ledger.MetricEventsOldestUnacked, 60)

	// A lease that ends unacknowledged, then a delivery that fails once.
	_, err = l.ClaimEvents(ctx, nil)
	require.NoError(t, err)
	clk.Add(ledger.DefaultEventLease)
	calls := 0
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = l.DeliverEvents(dctx, func(context.Context, []ledger.Event) error {
		calls++
		if calls == 1 {
			return errors.New("receiver down")
		}
		cancel()
		return nil
	}, &ledger.DeliverOpts{PollInterval: time.Millisecond, Backoff: time.Millisecond})
	require.ErrorIs(t, err, context.Canceled)
	m = collect(t, reader)
	require.EqualValues(t, 3, m.sum(ledger.MetricEventsRedelivered))
	require.EqualValues(t, 1, m.sum(ledger.MetricEventDeliveryErrors))
	require.EqualValues(t, 3, m.sum(ledger.MetricEventsDelivered))
	requireGauge(t, m, ledger.MetricEventsOldestUnacked, 0)
}

func requireGauge(t *testing.T, m *metrics, name string, want float64) {
	t.Helper()
	mt := m.find(name)
	require.NotNil(t, mt, name)
	g, ok := mt.Data.(metricdata.Gauge[float64])
	require.True(t, ok, "%s is a %T", name, mt.Data)
	require.Len(t, g.DataPoints, 1)
	require.InDelta(t, want, g.DataPoints[0].Value, 0.001, name)
}
