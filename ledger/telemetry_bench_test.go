package ledger_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// BenchmarkConsumeTelemetry measures what the instrumentation costs a
// consume, per store, in three modes: "off" is the ledger with its hooks
// disabled (the ledger before instrumentation), "global" the default (no
// provider set: the global OpenTelemetry providers, which record
// nothing), "sdk" a metric SDK with a manual reader (what a host that
// exports metrics pays).
//
// A machine shared with other work drifts more between runs than the
// instrumentation costs, so the modes are not separate benchmarks run one
// after another: each iteration is a round in which every mode, on a
// ledger of its own, does the same batch of consumes, in an order that
// rotates between rounds. The figures are medians over the rounds:
// ns/consume per mode, and the per-round ratio of global (and sdk) to off
// as an overhead in percent. The ns/op Go prints is per round; ignore it.
//
//	go test ./ledger -run '^$' -bench ConsumeTelemetry -benchtime 30x
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
	batches := map[string]int{"memory": 500, "sqlite": 100, "postgres": 100}
	for _, kind := range benchKinds() {
		b.Run(kind.name, func(b *testing.B) {
			ctx := context.Background()
			one := decimal.NewFromInt(1)
			ledgers := make([]*ledger.Ledger, len(modes))
			for i, mode := range modes {
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
				ledgers[i] = l
			}
			batch := batches[kind.name]
			perConsume := make([][]float64, len(modes)) // ns per consume, per mode and round
			round := 0
			for b.Loop() {
				for k := range modes {
					m := (k + round) % len(modes)
					b.StopTimer()
					runtime.GC()
					b.StartTimer()
					start := time.Now()
					for i := range batch {
						if _, err := ledgers[m].Consume(ctx, ledger.ConsumeParams{Account: benchAccount(i), Amount: one}); err != nil {
							b.Fatal(err)
						}
					}
					perConsume[m] = append(perConsume[m], float64(time.Since(start).Nanoseconds())/float64(batch))
				}
				round++
			}
			for m, mode := range modes {
				b.ReportMetric(median(perConsume[m]), mode.name+"-ns/consume")
				if m == 0 {
					continue
				}
				ratios := make([]float64, len(perConsume[m]))
				for r := range ratios {
					ratios[r] = (perConsume[m][r]/perConsume[0][r] - 1) * 100
				}
				b.ReportMetric(median(ratios), fmt.Sprintf("%s-overhead-%%", mode.name))
			}
		})
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
