package ledger_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// BenchmarkEventsCost measures what the outbox costs Consume and
// Distribute on each store: the same calls with Config.NoEvents (none
// written) and with events and a balance.low threshold (docs/EVENTS.md,
// docs/BENCHMARKS.md):
//
//	go test ./ledger -run '^$' -bench EventsCost -count 5
func BenchmarkEventsCost(b *testing.B) {
	for _, kind := range benchKinds() {
		for _, mode := range []struct {
			name     string
			noEvents bool
		}{{"no-events", true}, {"events", false}} {
			newLedger := func(b *testing.B) (*ledger.Ledger, *clock) {
				clk := newClock(t0)
				cat := policy.ReferenceCatalog()
				cat.LowBalance = map[string]decimal.Decimal{"": decimal.NewFromInt(40)}
				l, err := ledger.New(kind.new(b), &ledger.Config{Catalog: cat, Now: clk.Now, NoEvents: mode.noEvents})
				if err != nil {
					b.Fatal(err)
				}
				return l, clk
			}
			b.Run("consume/"+kind.name+"/"+mode.name, func(b *testing.B) {
				l, _ := newLedger(b)
				ctx := context.Background()
				fund(b, l, 1_000_000_000)
				one := decimal.NewFromInt(1)
				i := 0
				for b.Loop() {
					if _, err := l.Consume(ctx, ledger.ConsumeParams{Account: benchAccount(i), Amount: one}); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("distribute/"+kind.name+"/"+mode.name, func(b *testing.B) {
				l, _ := newLedger(b)
				benchDistribute(b, l)
			})
		}
	}
}
