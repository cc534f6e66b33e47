package ledger_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/creditledger/creditledger/ledger"
)

// TestHoldTelemetry: holds, captures, releases and reversals are counted
// by kind and outcome, and the credits they move by source.
func TestHoldTelemetry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	b := setup(t, testKindsMemory, &ledger.Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
	})
	kind := func(k string) attribute.KeyValue { return attribute.String("kind", k) }
	outcome := func(o string) attribute.KeyValue { return attribute.String("outcome", o) }
	source := attribute.String("source", "purchase_package")

	g := grant(t, b, "u", "g1", "100", nil)
	h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("30")})
	require.NoError(t, err)
	_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("20")})
	require.NoError(t, err)
	_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("20")})
	require.NoError(t, err)
	_, err = b.l.Release(ctx, "u", h.ID)
	require.ErrorIs(t, err, ledger.ErrHoldNotActive)
	c, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("5")})
	require.NoError(t, err)
	_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: c.OperationID})
	require.NoError(t, err)
	_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: g.OperationID, Amount: ptrDec(d("10"))})
	require.NoError(t, err)
	_, err = b.l.Holds(ctx, "u")
	require.NoError(t, err)
	_, err = b.l.BalanceAt(ctx, "u", t0)
	require.NoError(t, err)

	m := collect(t, reader)
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("hold"), outcome("ok")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("capture"), outcome("ok")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("capture"), outcome("replayed")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("release"), outcome("hold_not_active")))
	require.EqualValues(t, 2, m.sum(ledger.MetricOperations, kind("reverse"), outcome("ok")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("holds"), outcome("ok")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("balance_at"), outcome("ok")))
	require.EqualValues(t, 30, m.sum(ledger.MetricCreditsHeld, source))
	require.EqualValues(t, 25, m.sum(ledger.MetricCreditsConsumed, source), "the capture's 20 and the consume's 5")
	require.EqualValues(t, 5, m.sum(ledger.MetricCreditsReversed, source, attribute.String("direction", "given_back")))
	require.EqualValues(t, 10, m.sum(ledger.MetricCreditsReversed, source, attribute.String("direction", "taken_back")))
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
	}
	require.Contains(t, names, "creditledger.hold")
	require.Contains(t, names, "creditledger.capture")
	require.Contains(t, names, "creditledger.reverse")
}

func ptrDec[T any](v T) *T { return &v }
