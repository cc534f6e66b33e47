package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// BenchmarkConsumeGroupCommit consumes with 1, 4 and 16 goroutines, over
// random accounts and on one hot account, with group commit on (gc) and
// off (serial), on SQLite and PostgreSQL: ns/op is wall time per call, so
// serial/gc is the speed-up. For example:
//
//	go test ./ledger -run '^$' -bench 'ConsumeGroupCommit/postgres' -benchtime 2000x
func BenchmarkConsumeGroupCommit(b *testing.B) {
	for _, kind := range benchKinds()[1:] {
		b.Run(kind.name, func(b *testing.B) {
			modes := []string{"gc", "serial"}
			if kind.name == "postgres" {
				modes = append(modes, "gc-2lanes", "gc-4lanes")
			}
			for _, mode := range modes {
				for _, spread := range []string{"random", "hot"} {
					for _, workers := range []int{1, 4, 16} {
						b.Run(fmt.Sprintf("%s/%s/w%d", mode, spread, workers), func(b *testing.B) {
							l, err := ledger.New(kind.new(b), &ledger.Config{
								Catalog: policy.ReferenceCatalog(), Now: newClock(t0).Now, DisableGroupCommit: mode == "serial",
							})
							if err != nil {
								b.Fatal(err)
							}
							switch mode {
							case "gc-2lanes":
								ledger.SetGroupCommitLanes(l, 2)
							case "gc-4lanes":
								ledger.SetGroupCommitLanes(l, 4)
							}
							fund(b, l, 1_000_000_000)
							benchWorkers(b, workers, func(i int) error {
								account := benchAccount(i * 7919)
								if spread == "hot" {
									account = benchAccount(0)
								}
								_, err := l.Consume(context.Background(), ledger.ConsumeParams{Account: account, Amount: decimal.NewFromInt(1)})
								return err
							})
						})
					}
				}
			}
		})
	}
}

// BenchmarkHoldCaptureGroupCommit is a hold then its capture per op, with
// 16 goroutines over random accounts: pairs per second against
// BenchmarkConsumeGroupCommit's consumes.
func BenchmarkHoldCaptureGroupCommit(b *testing.B) {
	for _, kind := range benchKinds()[1:] {
		b.Run(kind.name, func(b *testing.B) {
			for _, mode := range []string{"gc", "serial"} {
				b.Run(mode+"/random/w16", func(b *testing.B) {
					l, err := ledger.New(kind.new(b), &ledger.Config{
						Catalog: policy.ReferenceCatalog(), Now: newClock(t0).Now, DisableGroupCommit: mode == "serial",
					})
					if err != nil {
						b.Fatal(err)
					}
					fund(b, l, 1_000_000_000)
					ctx := context.Background()
					benchWorkers(b, 16, func(i int) error {
						account := benchAccount(i * 7919)
						h, err := l.Hold(ctx, ledger.HoldParams{Account: account, Amount: decimal.NewFromInt(2)})
						if err != nil {
							return err
						}
						_, err = l.Capture(ctx, ledger.CaptureParams{Account: account, HoldID: h.ID, Amount: decimal.NewFromInt(1)})
						return err
					})
				})
			}
		})
	}
}

// benchWorkers runs b.N calls of fn over workers goroutines.
func benchWorkers(b *testing.B, workers int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := fn(int(i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
