package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/creditledger/creditledger/storage"
)

// InstrumentationName is the name of the ledger's OpenTelemetry meter and
// tracer (its instrumentation scope).
const InstrumentationName = "github.com/creditledger/creditledger/ledger"

// The metrics a ledger records through Config.MeterProvider. Credit
// amounts are counted in minor units of the ledger's Scale (whole credits
// at the default Scale 0), as integers, never floats.
const (
	// MetricOperations counts calls by kind (grant, grant_pack, consume,
	// set_plan, set_plans, balance, entries, verify, hold, capture,
	// release, holds, reverse, balance_at, set_lot_expiry) and outcome (ok, replayed,
	// invalid, insufficient_credits, conflict, not_found, unknown_plan,
	// unknown_pack, unknown_feature, hold_not_active, canceled, error).
	MetricOperations = "creditledger.operations"
	// MetricOperationDuration is the latency of those calls, in seconds,
	// with the same attributes.
	MetricOperationDuration = "creditledger.operation.duration"
	// MetricCreditsGranted, MetricCreditsConsumed and MetricCreditsExpired
	// count credits written, by the lot's source ("monthly_refresh",
	// "purchase_package", ...), whatever call wrote them (Grant, Consume,
	// the sweeps of writes, Distribute, ExpireDue, SetPlan), and by
	// "pool" for credits of a pool other than the default one (credits of
	// the default pool carry no pool attribute, as before pools). The
	// same holds for MetricCreditsHeld and MetricCreditsReversed.
	MetricCreditsGranted  = "creditledger.credits.granted"
	MetricCreditsConsumed = "creditledger.credits.consumed"
	MetricCreditsExpired  = "creditledger.credits.expired"
	// MetricCreditsHeld counts credits holds took (Hold), by the lot's
	// source; what a Capture then spends counts as consumed.
	MetricCreditsHeld = "creditledger.credits.held"
	// MetricCreditsReversed counts credits Reverse moved, by the lot's
	// source and direction: "taken_back" (a grant's reversal) or
	// "given_back" (a consume's or capture's).
	MetricCreditsReversed = "creditledger.credits.reversed"
	// The counters of credits, runs, and the runs' accounts and errors
	// start at 0 (see telemetry.startAtZero), so that they are exported
	// before their first event.
	//
	// MetricDistributionRuns counts Distribute and ExpireDue calls by kind
	// (distribute, expire) and outcome (complete, incomplete, error).
	MetricDistributionRuns = "creditledger.distribution.runs"
	// MetricDistributionAccounts counts the accounts runs examined, and
	// MetricDistributionErrors those that failed (unknown plan, ...).
	MetricDistributionAccounts = "creditledger.distribution.accounts"
	MetricDistributionErrors   = "creditledger.distribution.errors"
	// MetricDistributionChunkDuration is the duration of each chunk
	// transaction of a run, in seconds.
	MetricDistributionChunkDuration = "creditledger.distribution.chunk.duration"
)

// opKind is the kind of a call in MetricOperations and in span names.
type opKind uint8

// The kinds of calls. Holds and reversals add theirs here.
const (
	opGrant opKind = iota
	opGrantPack
	opConsume
	opSetPlan
	opSetPlans
	opBalance
	opEntries
	opVerify
	opHold
	opCapture
	opRelease
	opHolds
	opReverse
	opBalanceAt
	opSetLotExpiry
	opGrantInvoice // v0.3 plans
)

// opNames and opSpans are indexed by opKind: constant strings, so that
// starting a span allocates no name.
var (
	opNames = [...]string{"grant", "grant_pack", "consume", "set_plan", "set_plans", "balance", "entries", "verify",
		"hold", "capture", "release", "holds", "reverse", "balance_at", "set_lot_expiry",
		"grant_invoice"}
	opSpans = [...]string{"creditledger.grant", "creditledger.grant_pack", "creditledger.consume", "creditledger.set_plan",
		"creditledger.set_plans", "creditledger.balance", "creditledger.entries", "creditledger.verify",
		"creditledger.hold", "creditledger.capture", "creditledger.release", "creditledger.holds", "creditledger.reverse",
		"creditledger.balance_at", "creditledger.set_lot_expiry",
		"creditledger.grant_invoice"}
)

// telemetry holds a ledger's instruments. With no provider configured
// they come from the global OpenTelemetry providers, which do nothing
// until a host installs an SDK: every hook then costs an atomic load or
// two and no allocation of attributes (they are built only when an
// instrument is enabled).
type telemetry struct {
	tracer trace.Tracer
	// globalTracing: the tracer is the global provider's (none was
	// configured), so spans are skipped while that provider is still
	// OpenTelemetry's default, which would only hand out non-recording
	// spans, at the cost of two allocations each.
	globalTracing bool

	ops        metric.Int64Counter
	opDuration metric.Float64Histogram
	granted    metric.Int64Counter
	consumed   metric.Int64Counter
	expired    metric.Int64Counter
	held       metric.Int64Counter
	reversed   metric.Int64Counter
	runs       metric.Int64Counter
	accounts   metric.Int64Counter
	errors     metric.Int64Counter
	chunkDur   metric.Float64Histogram

	ev *eventTelemetry // the outbox's (telemetry_events.go)
}

func newTelemetry(mp metric.MeterProvider, tp trace.TracerProvider) (*telemetry, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	global := tp == nil
	if global {
		tp = otel.GetTracerProvider()
	}
	m := mp.Meter(InstrumentationName)
	t := &telemetry{tracer: tp.Tracer(InstrumentationName), globalTracing: global}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	seconds := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
		errs = append(errs, err)
		return h
	}
	t.ops = counter(MetricOperations, "{call}", "Ledger calls by kind and outcome.")
	t.opDuration = seconds(MetricOperationDuration, "Latency of ledger calls by kind and outcome.")
	t.granted = counter(MetricCreditsGranted, "{credit}", "Credits granted, in minor units of the ledger's scale, by source.")
	t.consumed = counter(MetricCreditsConsumed, "{credit}", "Credits consumed, in minor units of the ledger's scale, by source of the lot.")
	t.expired = counter(MetricCreditsExpired, "{credit}", "Credits expired, in minor units of the ledger's scale, by source of the lot.")
	t.held = counter(MetricCreditsHeld, "{credit}", "Credits holds took, in minor units of the ledger's scale, by source of the lot.")
	t.reversed = counter(MetricCreditsReversed, "{credit}", "Credits reversals moved, in minor units of the ledger's scale, by source of the lot and direction.")
	t.runs = counter(MetricDistributionRuns, "{run}", "Distribute and ExpireDue calls by kind and outcome.")
	t.accounts = counter(MetricDistributionAccounts, "{account}", "Accounts examined by distribution runs.")
	t.errors = counter(MetricDistributionErrors, "{account}", "Accounts a distribution run could not serve.")
	t.chunkDur = seconds(MetricDistributionChunkDuration, "Duration of each chunk transaction of a distribution run.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ev, err := newEventTelemetry(m)
	if err != nil {
		return nil, err
	}
	t.ev = ev
	t.startAtZero()
	return t, nil
}

// startAtZero adds 0 to the counters of events that may not happen for a
// long time (expiries, reversals, runs and their accounts and errors), so
// that their series exist from the start: a dashboard shows 0 rather than
// nothing, and an absence alert does not fire on a quiet ledger. The
// credit counters get a series without a source; the others one per
// value of their fixed attributes. A host that installs the global meter
// provider only after ledger.New loses these zeros (the global provider
// passes on instruments, not what they recorded before).
func (t *telemetry) startAtZero() {
	ctx := context.Background()
	for _, c := range []metric.Int64Counter{t.granted, t.consumed, t.expired, t.held} {
		c.Add(ctx, 0)
	}
	for _, direction := range []string{"given_back", "taken_back"} {
		t.reversed.Add(ctx, 0, metric.WithAttributeSet(attribute.NewSet(attribute.String("direction", direction))))
	}
	for _, kind := range []string{"distribute", "expire"} {
		kindAttr := attribute.String("kind", kind)
		t.accounts.Add(ctx, 0, metric.WithAttributeSet(attribute.NewSet(kindAttr)))
		t.errors.Add(ctx, 0, metric.WithAttributeSet(attribute.NewSet(kindAttr)))
		for _, outcome := range []string{"complete", "incomplete", "error"} {
			t.runs.Add(ctx, 0, metric.WithAttributeSet(attribute.NewSet(kindAttr, attribute.String("outcome", outcome))))
		}
	}
}

// defaultTracerProvider is OpenTelemetry's global tracer provider as it is
// before any SDK is installed: a delegate that records nothing until
// otel.SetTracerProvider replaces it (and from then on hands its tracers
// over to the new provider). Nil when something installed a provider
// before this package was initialised; spans are then always started.
var defaultTracerProvider = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if fmt.Sprintf("%T", tp) != "*global.tracerProvider" {
		return nil
	}
	return tp
}()

// start starts a span, unless no tracer provider was configured and the
// global one is still the default (see telemetry.globalTracing): then it
// returns ctx and a nil span.
func (t *telemetry) start(ctx context.Context, name string) (context.Context, trace.Span) {
	// Comparing interfaces of different dynamic types is false without
	// looking further, so a provider of a non-comparable type is safe.
	if t.globalTracing && defaultTracerProvider != nil && any(otel.GetTracerProvider()) == any(defaultTracerProvider) {
		return ctx, nil
	}
	return t.tracer.Start(ctx, name)
}

// callSpan is one instrumented call in flight.
type callSpan struct {
	t    *telemetry
	kind opKind
	span trace.Span
	// start is zero when no latency is recorded (the clock is read only
	// for an enabled histogram).
	start time.Time
}

// begin starts the span and clock of a call of kind. A nil telemetry (see
// export_test.go) records nothing.
func (t *telemetry) begin(ctx context.Context, kind opKind) (context.Context, callSpan) {
	if t == nil {
		return ctx, callSpan{}
	}
	ctx, span := t.start(ctx, opSpans[kind])
	c := callSpan{t: t, kind: kind, span: span}
	if t.opDuration.Enabled(ctx) {
		c.start = time.Now()
	}
	return ctx, c
}

// end records the call's outcome: its span's status and the operation
// counter and latency. replayed marks an idempotent replay.
func (c callSpan) end(ctx context.Context, replayed bool, err error) {
	if c.t == nil {
		return
	}
	outcome := outcomeOf(replayed, err)
	if c.span != nil && c.span.IsRecording() {
		c.span.SetAttributes(attribute.String("creditledger.outcome", outcome))
		if err != nil {
			c.span.RecordError(err)
			c.span.SetStatus(codes.Error, outcome)
		}
	}
	if c.span != nil {
		c.span.End()
	}
	c.t.recordOp(ctx, opNames[c.kind], outcome, c.start)
}

// recordOp counts a call and, when start is set, records its latency.
func (t *telemetry) recordOp(ctx context.Context, kind, outcome string, start time.Time) {
	countOn, durOn := t.ops.Enabled(ctx), !start.IsZero()
	if !countOn && !durOn {
		return
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(
		attribute.String("kind", kind), attribute.String("outcome", outcome)))
	if countOn {
		t.ops.Add(ctx, 1, attrs)
	}
	if durOn {
		t.opDuration.Record(ctx, time.Since(start).Seconds(), attrs)
	}
}

// outcomeOf names the outcome of a call for metrics.
func outcomeOf(replayed bool, err error) string {
	switch {
	case err == nil && replayed:
		return "replayed"
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInsufficientCredits):
		return "insufficient_credits"
	case errors.Is(err, ErrIdempotencyConflict):
		return "conflict"
	case errors.Is(err, ErrUnknownPlan):
		return "unknown_plan"
	case errors.Is(err, ErrUnknownPack):
		return "unknown_pack"
	case errors.Is(err, ErrUnknownFeature):
		// Before invalid, which it also matches.
		return "unknown_feature"
	case errors.Is(err, ErrHoldNotActive):
		return "hold_not_active"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrInvalidAmount), errors.Is(err, ErrInvalidArgument):
		return "invalid"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	default:
		return "error"
	}
}

// committed records the credits of a batch once its transaction has
// committed: granted, consumed and expired, by the source of each lot.
func (t *telemetry) committed(ctx context.Context, b *storage.Batch) {
	if t != nil && b != nil {
		t.eventsWritten(ctx, b)
	}
	if t == nil || b == nil || len(b.Entries) == 0 {
		return
	}
	if !t.granted.Enabled(ctx) && !t.consumed.Enabled(ctx) && !t.expired.Enabled(ctx) &&
		!t.held.Enabled(ctx) && !t.reversed.Enabled(ctx) {
		return
	}
	type key struct {
		kind   storage.EntryKind
		source string
		pool   string
	}
	sums := make(map[key]int64, 4)
	for i := range b.Entries {
		e := &b.Entries[i]
		sums[key{e.Kind, e.Source, e.Pool}] += e.Amount
	}
	for k, v := range sums {
		var c metric.Int64Counter
		switch k.kind {
		case storage.KindGrant:
			c = t.granted
		case storage.KindConsume, storage.KindCapture:
			c, v = t.consumed, -v
		case storage.KindExpire:
			c, v = t.expired, -v
		case storage.KindHold:
			c, v = t.held, -v
		case storage.KindReverse:
			// One reversal per batch: its entries all go one way.
			direction := "given_back"
			if v < 0 {
				direction, v = "taken_back", -v
			}
			if v > 0 {
				attrs := []attribute.KeyValue{attribute.String("source", k.source), attribute.String("direction", direction)}
				t.reversed.Add(ctx, v, metric.WithAttributeSet(attribute.NewSet(withPool(attrs, k.pool)...)))
			}
			continue
		default:
			// Releases give held credits back: the held counter does not
			// go down (it counts what holds took).
			continue
		}
		if v > 0 {
			c.Add(ctx, v, metric.WithAttributeSet(attribute.NewSet(withPool([]attribute.KeyValue{attribute.String("source", k.source)}, k.pool)...)))
		}
	}
}

// withPool adds the pool attribute of credits of a pool other than the
// default one: the credit counters of a ledger that never names a pool
// keep the attributes they had before pools.
func withPool(attrs []attribute.KeyValue, pool string) []attribute.KeyValue {
	if pool == "" {
		return attrs
	}
	return append(attrs, attribute.String("pool", pool))
}

// chunkSpan is one chunk of a distribution run in flight.
type chunkSpan struct {
	t     *telemetry
	span  trace.Span
	start time.Time
}

// beginChunk starts the span of a chunk that claims accounts after
// after.
func (t *telemetry) beginChunk(ctx context.Context, grants bool, after string) (context.Context, chunkSpan) {
	if t == nil {
		return ctx, chunkSpan{}
	}
	ctx, span := t.start(ctx, "creditledger.chunk")
	if span != nil && span.IsRecording() {
		span.SetAttributes(attribute.Bool("creditledger.grants", grants), attribute.String("creditledger.after", after))
	}
	c := chunkSpan{t: t, span: span}
	if t.chunkDur.Enabled(ctx) {
		c.start = time.Now()
	}
	return ctx, c
}

// end records the chunk's duration and what it did.
func (c chunkSpan) end(ctx context.Context, cr *chunkResult, err error) {
	if c.t == nil {
		return
	}
	if c.span != nil && c.span.IsRecording() {
		c.span.SetAttributes(
			attribute.Int("creditledger.accounts", cr.claimed),
			attribute.Int("creditledger.granted", cr.granted),
			attribute.Int("creditledger.expired", cr.expired),
			attribute.Int("creditledger.errors", len(cr.failures)))
		if err != nil {
			c.span.RecordError(err)
			c.span.SetStatus(codes.Error, "chunk failed")
		}
	}
	if c.span != nil {
		c.span.End()
	}
	if !c.start.IsZero() {
		c.t.chunkDur.Record(ctx, time.Since(c.start).Seconds())
	}
}

// runSpan is one Distribute or ExpireDue call in flight.
type runSpan struct {
	t    *telemetry
	kind string
	span trace.Span
}

// beginRun starts the span of a Distribute (grants) or ExpireDue call.
func (t *telemetry) beginRun(ctx context.Context, grants bool) (context.Context, runSpan) {
	if t == nil {
		return ctx, runSpan{}
	}
	kind, name := "expire", "creditledger.expire"
	if grants {
		kind, name = "distribute", "creditledger.distribute"
	}
	ctx, span := t.start(ctx, name)
	return ctx, runSpan{t: t, kind: kind, span: span}
}

// end records the run's result.
func (r runSpan) end(ctx context.Context, res *DistributeResult, err error) {
	if r.t == nil {
		return
	}
	outcome := "error"
	if err == nil && res != nil {
		outcome = "incomplete"
		if res.Complete {
			outcome = "complete"
		}
	}
	if r.span != nil && r.span.IsRecording() {
		r.span.SetAttributes(attribute.String("creditledger.outcome", outcome))
		if res != nil {
			r.span.SetAttributes(
				attribute.Int("creditledger.accounts", res.Accounts),
				attribute.Int("creditledger.processed", res.Processed),
				attribute.Int("creditledger.errors", res.Errors),
				attribute.Int("creditledger.granted", res.Granted),
				attribute.Int("creditledger.expired", res.Expired))
		}
		if err != nil {
			r.span.RecordError(err)
			r.span.SetStatus(codes.Error, outcome)
		}
	}
	if r.span != nil {
		r.span.End()
	}
	kindAttr := attribute.String("kind", r.kind)
	if r.t.runs.Enabled(ctx) {
		r.t.runs.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(kindAttr, attribute.String("outcome", outcome))))
	}
	if res == nil {
		return
	}
	kindSet := metric.WithAttributeSet(attribute.NewSet(kindAttr))
	if res.Accounts > 0 && r.t.accounts.Enabled(ctx) {
		r.t.accounts.Add(ctx, int64(res.Accounts), kindSet)
	}
	if res.Errors > 0 && r.t.errors.Enabled(ctx) {
		r.t.errors.Add(ctx, int64(res.Errors), kindSet)
	}
}
