package ledger_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// BenchmarkConsumeTelemetry measures what the instrumentation costs a
// consume, per store: "off" is the ledger with its hooks disabled (as it
// was before instrumentation), "global" the default (no provider set: the
// global OpenTelemetry providers, which record nothing), "sdk" a metric
// SDK with a manual reader (what a host exporting metrics pays). Run the
// modes interleaved so that they share the machine's state:
//
//	go test ./ledger -run '^$' -bench 'ConsumeTelemetry/memory' -count 10
func BenchmarkConsumeTelemetry(b *testing.B) {
	modes := []struct {
		name string
		cfg  func(c *ledger.Config)
		off  bool
	}{
		{"off", func(*ledger.Config) {}, true},
		{"global", func(*ledger.Config) {}, false},
		{"sdk", func(c *ledger.Config) {
			c.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		}, false},
	}
	for _, kind := range benchKinds() {
		b.Run(kind.name, func(b *testing.B) {
			for _, mode := range modes {
				b.Run(mode.name, func(b *testing.B) {
					cfg := &ledger.Config{Catalog: policy.ReferenceCatalog(), Now: newClock(t0).Now}
					mode.cfg(cfg)
					l, err := ledger.New(kind.new(b), cfg)
					if err != nil {
						b.Fatal(err)
					}
					if mode.off {
						l = ledger.WithoutTelemetry(l)
					}
					fund(b, l, 1_000_000_000)
					ctx := context.Background()
					one := decimal.NewFromInt(1)
					i := 0
					for b.Loop() {
						if _, err := l.Consume(ctx, ledger.ConsumeParams{Account: benchAccount(i), Amount: one}); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		})
	}
}
