package ledger

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/creditledger/creditledger/storage"
)

// BenchmarkTelemetryHooks measures the hooks of one consume alone (the
// call's span, its counters, the credits of its committed batch), with
// the global providers that record nothing ("global", the default) and
// with a metric SDK ("sdk"). Set against a consume's own duration
// (BenchmarkConsumeTelemetry), it is the instrumentation's overhead
// without the noise of a whole write.
func BenchmarkTelemetryHooks(b *testing.B) {
	batch := &storage.Batch{Entries: []storage.Entry{{Kind: storage.KindConsume, Source: "purchase_package", Amount: -1}}}
	for _, mode := range []struct {
		name string
		mp   func() *sdkmetric.MeterProvider
	}{
		{"global", func() *sdkmetric.MeterProvider { return nil }},
		{"sdk", func() *sdkmetric.MeterProvider {
			return sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var tel *telemetry
			var err error
			if mp := mode.mp(); mp != nil {
				tel, err = newTelemetry(mp, nil)
			} else {
				tel, err = newTelemetry(nil, nil)
			}
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				cctx, call := tel.begin(ctx, opConsume)
				tel.committed(cctx, batch)
				call.end(cctx, false, nil)
			}
		})
	}
}
