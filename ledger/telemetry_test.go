package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// metrics reads what a ManualReader collected.
type metrics struct {
	t  *testing.T
	rm metricdata.ResourceMetrics
}

func collect(t *testing.T, r *sdkmetric.ManualReader) *metrics {
	t.Helper()
	m := &metrics{t: t}
	require.NoError(t, r.Collect(context.Background(), &m.rm))
	return m
}

func (m *metrics) find(name string) *metricdata.Metrics {
	for _, sm := range m.rm.ScopeMetrics {
		for i := range sm.Metrics {
			if sm.Metrics[i].Name == name {
				return &sm.Metrics[i]
			}
		}
	}
	return nil
}

// sum returns the value of an int64 counter for the data points that
// carry all of attrs (0 when the metric was never recorded).
func (m *metrics) sum(name string, attrs ...attribute.KeyValue) int64 {
	m.t.Helper()
	mt := m.find(name)
	if mt == nil {
		return 0
	}
	s, ok := mt.Data.(metricdata.Sum[int64])
	require.True(m.t, ok, "%s is a %T", name, mt.Data)
	var total int64
	for _, dp := range s.DataPoints {
		if hasAll(dp.Attributes, attrs) {
			total += dp.Value
		}
	}
	return total
}

// count returns the number of observations of a float64 histogram with
// all of attrs.
func (m *metrics) count(name string, attrs ...attribute.KeyValue) uint64 {
	m.t.Helper()
	mt := m.find(name)
	if mt == nil {
		return 0
	}
	h, ok := mt.Data.(metricdata.Histogram[float64])
	require.True(m.t, ok, "%s is a %T", name, mt.Data)
	var n uint64
	for _, dp := range h.DataPoints {
		if hasAll(dp.Attributes, attrs) {
			n += dp.Count
		}
	}
	return n
}

func hasAll(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, a := range attrs {
		v, ok := set.Value(a.Key)
		if !ok || v != a.Value {
			return false
		}
	}
	return true
}

func TestTelemetry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	b := setup(t, testKindsMemory, &ledger.Config{
		Catalog:        policy.ReferenceCatalog(),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
	})
	kind := func(k string) attribute.KeyValue { return attribute.String("kind", k) }
	outcome := func(o string) attribute.KeyValue { return attribute.String("outcome", o) }
	source := func(s string) attribute.KeyValue { return attribute.String("source", s) }

	grant := ledger.GrantParams{Account: "alice", Source: "purchase_package", IdempotencyKey: "inv-1",
		Amount: d("100"), ExpiresAt: tp(t0.Add(5 * 24 * time.Hour))}
	_, err := b.l.Grant(ctx, grant)
	require.NoError(t, err)
	rec, err := b.l.Grant(ctx, grant)
	require.NoError(t, err)
	require.True(t, rec.Replayed)
	_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "alice", Amount: d("30")})
	require.NoError(t, err)
	_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "alice", Amount: d("1000")})
	require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
	_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "alice", IdempotencyKey: "bad", Amount: d("-1")})
	require.ErrorIs(t, err, ledger.ErrInvalidAmount)
	_, err = b.l.GrantPack(ctx, "alice", "gold", "inv-gold")
	require.ErrorIs(t, err, ledger.ErrUnknownPack)

	m := collect(t, reader)
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("grant_pack"), outcome("unknown_pack")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("grant"), outcome("ok")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("grant"), outcome("replayed")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("grant"), outcome("invalid")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("consume"), outcome("ok")))
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, kind("consume"), outcome("insufficient_credits")))
	require.EqualValues(t, 2, m.count(ledger.MetricOperationDuration, kind("consume")))
	// The replay and the failures wrote nothing, so they count no credits.
	require.EqualValues(t, 100, m.sum(ledger.MetricCreditsGranted, source("purchase_package")))
	require.EqualValues(t, 30, m.sum(ledger.MetricCreditsConsumed, source("purchase_package")))
	require.EqualValues(t, 0, m.sum(ledger.MetricCreditsExpired))

	// Six days on the pack has expired: the run sweeps its 70 and grants
	// the free plan's 50 to alice (on the default plan since her first
	// write) and to bob.
	_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "bob", IdempotencyKey: "inv-2", Amount: d("5")})
	require.NoError(t, err)
	b.clock.Add(6 * 24 * time.Hour)
	res, err := b.l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: 1})
	require.NoError(t, err)
	require.Equal(t, 2, res.Accounts)
	require.Equal(t, 2, res.Granted)

	m = collect(t, reader)
	require.EqualValues(t, 70, m.sum(ledger.MetricCreditsExpired, source("purchase_package")))
	require.EqualValues(t, 100, m.sum(ledger.MetricCreditsGranted, source(policy.SourceMonthlyRefresh)))
	require.EqualValues(t, 5, m.sum(ledger.MetricCreditsGranted, source("grant")))
	require.EqualValues(t, 1, m.sum(ledger.MetricDistributionRuns, kind("distribute"), outcome("complete")))
	require.EqualValues(t, 2, m.sum(ledger.MetricDistributionAccounts, kind("distribute")))
	require.EqualValues(t, 0, m.sum(ledger.MetricDistributionErrors))
	// One chunk per account, and the empty claims that end each pass.
	require.GreaterOrEqual(t, m.count(ledger.MetricDistributionChunkDuration), uint64(2))

	names := map[string]int{}
	for _, s := range spans.Ended() {
		names[s.Name()]++
	}
	require.Equal(t, 4, names["creditledger.grant"])
	require.Equal(t, 2, names["creditledger.consume"])
	require.Equal(t, 1, names["creditledger.distribute"])
	require.GreaterOrEqual(t, names["creditledger.chunk"], 2)
	for _, s := range spans.Ended() {
		if s.Name() == "creditledger.chunk" {
			require.Equal(t, "creditledger.distribute", parentName(spans.Ended(), s), "a chunk's span is a child of its run's")
		}
	}
}

func parentName(all []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan) string {
	for _, p := range all {
		if p.SpanContext().SpanID() == s.Parent().SpanID() {
			return p.Name()
		}
	}
	return ""
}

// TestTelemetryUnknownPlanCounted checks that a run's failed accounts
// reach the errors counter.
func TestTelemetryUnknownPlanCounted(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reader := sdkmetric.NewManualReader()
	cat := policy.ReferenceCatalog()
	b := setup(t, testKindsMemory, &ledger.Config{Catalog: cat, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "carol", Plan: "pro_yearly"}))
	// The same store under a catalog without pro_yearly.
	cat2 := policy.ReferenceCatalog()
	cat2.Plans = cat2.Plans[:2]
	reader2 := sdkmetric.NewManualReader()
	l2, err := ledger.New(b.store, &ledger.Config{Catalog: cat2, Now: b.clock.Now, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader2))})
	require.NoError(t, err)
	b.clock.Add(40 * 24 * time.Hour)
	res, err := l2.Distribute(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Errors)
	require.EqualValues(t, 1, collect(t, reader2).sum(ledger.MetricDistributionErrors, attribute.String("kind", "distribute")))
	m := collect(t, reader)
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, attribute.String("kind", "set_plan"), attribute.String("outcome", "ok")))
}

// TestTelemetryGlobalProviders checks the default: with no provider
// configured the ledger reports to the global ones, including when the
// host installs its SDK after ledger.New. Not parallel: it sets the
// process's global providers (and leaves no-op ones behind).
func TestTelemetryGlobalProviders(t *testing.T) {
	ctx := t.Context()
	b := setup(t, testKindsMemory, &ledger.Config{Catalog: policy.ReferenceCatalog()})
	_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "gina", IdempotencyKey: "g-1", Amount: d("10")})
	require.NoError(t, err)

	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	t.Cleanup(func() {
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
	})

	_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "gina", Amount: d("4")})
	require.NoError(t, err)
	m := collect(t, reader)
	require.EqualValues(t, 1, m.sum(ledger.MetricOperations, attribute.String("kind", "consume")))
	require.EqualValues(t, 0, m.sum(ledger.MetricOperations, attribute.String("kind", "grant")), "made before the SDK")
	require.EqualValues(t, 4, m.sum(ledger.MetricCreditsConsumed))
	require.Len(t, spans.Ended(), 1)
	require.Equal(t, "creditledger.consume", spans.Ended()[0].Name())
}

// The counters of events that may not have happened yet are exported at
// 0 from the start, so that dashboards and absence alerts see them.
func TestTelemetryCountersStartAtZero(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	setup(t, testKindsMemory, &ledger.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	m := collect(t, reader)
	points := func(name string) []string {
		t.Helper()
		mt := m.find(name)
		require.NotNil(t, mt, "%s is exported before its first event", name)
		s, ok := mt.Data.(metricdata.Sum[int64])
		require.True(t, ok)
		var out []string
		for _, dp := range s.DataPoints {
			require.Zero(t, dp.Value, name)
			out = append(out, dp.Attributes.Encoded(attribute.DefaultEncoder()))
		}
		return out
	}
	for _, name := range []string{ledger.MetricCreditsGranted, ledger.MetricCreditsConsumed, ledger.MetricCreditsExpired, ledger.MetricCreditsHeld} {
		require.Equal(t, []string{""}, points(name), name)
	}
	require.ElementsMatch(t, []string{"direction=given_back", "direction=taken_back"}, points(ledger.MetricCreditsReversed))
	require.ElementsMatch(t, []string{"kind=distribute", "kind=expire"}, points(ledger.MetricDistributionAccounts))
	require.ElementsMatch(t, []string{"kind=distribute", "kind=expire"}, points(ledger.MetricDistributionErrors))
	require.ElementsMatch(t, []string{"kind=distribute,outcome=complete", "kind=distribute,outcome=incomplete", "kind=distribute,outcome=error",
		"kind=expire,outcome=complete", "kind=expire,outcome=incomplete", "kind=expire,outcome=error"}, points(ledger.MetricDistributionRuns))
}
