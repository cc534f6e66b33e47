package ledger

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/creditledger/creditledger/storage"
)

// The metrics of the outbox (events.go, deliver.go).
const (
	// MetricEventsWritten counts events written, by type, when their
	// write commits.
	MetricEventsWritten = "creditledger.events.written"
	// MetricEventsDelivered counts events acknowledged (AckEvents, and
	// DeliverEvents after fn returned nil).
	MetricEventsDelivered = "creditledger.events.delivered"
	// MetricEventsRedelivered counts events a claim handed out again
	// (their lease had ended without an acknowledgement).
	MetricEventsRedelivered = "creditledger.events.redelivered"
	// MetricEventDeliveryErrors counts the errors DeliverEvents' fn
	// returned.
	MetricEventDeliveryErrors = "creditledger.events.delivery_errors"
	// MetricEventsOldestUnacked is an observable gauge: the age in
	// seconds, on the ledger's clock, of the oldest event not
	// acknowledged (0 when none). Each collection reads the store once
	// (storage.EventStore.EventStats).
	MetricEventsOldestUnacked = "creditledger.events.oldest_unacked.age"
)

// eventTelemetry holds the outbox's instruments.
type eventTelemetry struct {
	meter       metric.Meter
	written     metric.Int64Counter
	delivered   metric.Int64Counter
	redelivered metric.Int64Counter
	failed      metric.Int64Counter
}

func newEventTelemetry(m metric.Meter) (*eventTelemetry, error) {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	t := &eventTelemetry{meter: m}
	t.written = counter(MetricEventsWritten, "{event}", "Events written to the outbox, by type.")
	t.delivered = counter(MetricEventsDelivered, "{event}", "Events acknowledged.")
	t.redelivered = counter(MetricEventsRedelivered, "{event}", "Events handed out again after their lease ended.")
	t.failed = counter(MetricEventDeliveryErrors, "{error}", "Errors of DeliverEvents' function.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ctx := context.Background()
	for _, c := range []metric.Int64Counter{t.delivered, t.redelivered, t.failed} {
		c.Add(ctx, 0)
	}
	return t, nil
}

// observeOldest registers the gauge of the oldest unacknowledged event,
// read from l's store at each collection.
func (t *eventTelemetry) observeOldest(l *Ledger) error {
	_, err := t.meter.Float64ObservableGauge(MetricEventsOldestUnacked, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest event not acknowledged, 0 when none."),
		metric.WithFloat64Callback(func(ctx context.Context, o metric.Float64Observer) error {
			now := l.clock()
			st, err := l.store.EventStats(ctx, now)
			if err != nil {
				// No point this round: a collection must not fail for
				// one ledger's store (closed, or unreachable for now),
				// which would drop every other instrument's points too.
				l.logger.DebugContext(ctx, "creditledger: oldest unacknowledged event not observed", "error", err)
				return nil
			}
			age := 0.0
			if st.OldestUnacked != nil {
				age = max(now.Sub(*st.OldestUnacked).Seconds(), 0)
			}
			o.Observe(age)
			return nil
		}))
	return err
}

func (t *telemetry) eventsWritten(ctx context.Context, b *storage.Batch) {
	if t == nil || t.ev == nil || len(b.Events) == 0 || !t.ev.written.Enabled(ctx) {
		return
	}
	counts := map[string]int64{}
	for i := range b.Events {
		counts[b.Events[i].Type]++
	}
	for typ, n := range counts {
		t.ev.written.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(attribute.String("type", typ))))
	}
}

func (t *telemetry) eventsClaimed(ctx context.Context, n, redelivered int) {
	if t == nil || t.ev == nil || redelivered == 0 {
		return
	}
	t.ev.redelivered.Add(ctx, int64(redelivered))
}

func (t *telemetry) eventsDelivered(ctx context.Context, n int) {
	if t == nil || t.ev == nil || n == 0 {
		return
	}
	t.ev.delivered.Add(ctx, int64(n))
}

func (t *telemetry) eventDeliveryFailed(ctx context.Context) {
	if t == nil || t.ev == nil {
		return
	}
	t.ev.failed.Add(ctx, 1)
}
