package ledger_test

// Benchmarks of the ledger's calls on every store: memory, SQLite and
// PostgreSQL (skipped when unreachable, see internal/testdb). They run only
// with -bench, for example:
//
//	go test ./ledger -run '^$' -bench . -benchtime 2s
//	go test ./ledger -run '^$' -bench 'Distribute/postgres'
//
// Each sets up a few hundred accounts, so setup takes well under a second.
// The end-to-end benchmark at scale (a million accounts, concurrent
// consumers, against the raw-SQL reference) is examples/bench; see
// docs/BENCHMARKS.md.

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/memory"
)

// benchKind is a kind of store for benchmarks: testdb.Kinds takes a
// *testing.T, these take any testing.TB.
type benchKind struct {
	name string
	new  func(b testing.TB) storage.Store
}

func benchKinds() []benchKind {
	return []benchKind{
		{"memory", func(testing.TB) storage.Store { return memory.New() }},
		{"sqlite", func(b testing.TB) storage.Store { return testdb.Open(b, testdb.SQLitePath(b)) }},
		{"postgres", func(b testing.TB) storage.Store { return testdb.Open(b, testdb.PostgresDSN(b)) }},
	}
}

// eachBenchStore runs fn as a sub-benchmark per store, with a ledger on a
// fresh store of that kind, the reference catalog and a settable clock.
func eachBenchStore(b *testing.B, fn func(b *testing.B, l *ledger.Ledger, clk *clock)) {
	for _, kind := range benchKinds() {
		b.Run(kind.name, func(b *testing.B) {
			clk := newClock(t0)
			store := kind.new(b)
			l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog(), Now: clk.Now})
			if err != nil {
				b.Fatal(err)
			}
			fn(b, l, clk)
		})
	}
}

const benchAccounts = 200

func benchAccount(i int) string { return "user_" + strconv.Itoa(i%benchAccounts) }

// fund grants each bench account amount credits that never expire.
func fund(b *testing.B, l *ledger.Ledger, amount int64) {
	b.Helper()
	for i := range benchAccounts {
		if _, err := l.Grant(context.Background(), ledger.GrantParams{
			Account: benchAccount(i), IdempotencyKey: "fund-" + strconv.Itoa(i), Amount: decimal.NewFromInt(amount),
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGrant(b *testing.B) {
	eachBenchStore(b, func(b *testing.B, l *ledger.Ledger, clk *clock) {
		ctx := context.Background()
		expires := t0.AddDate(0, 1, 0)
		ten := decimal.NewFromInt(10)
		i := 0
		for b.Loop() {
			if _, err := l.Grant(ctx, ledger.GrantParams{
				Account: benchAccount(i), IdempotencyKey: "g-" + strconv.Itoa(i), Amount: ten,
				Source: "purchase_package", ExpiresAt: &expires,
			}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkConsume(b *testing.B) {
	eachBenchStore(b, func(b *testing.B, l *ledger.Ledger, clk *clock) {
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
}

// BenchmarkConsumeParallel consumes from random accounts with
// GOMAXPROCS*-cpu goroutines (b.RunParallel).
func BenchmarkConsumeParallel(b *testing.B) {
	eachBenchStore(b, func(b *testing.B, l *ledger.Ledger, clk *clock) {
		ctx := context.Background()
		fund(b, l, 1_000_000_000)
		one := decimal.NewFromInt(1)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i += 7
				if _, err := l.Consume(ctx, ledger.ConsumeParams{Account: benchAccount(i), Amount: one}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkBalance(b *testing.B) {
	eachBenchStore(b, func(b *testing.B, l *ledger.Ledger, clk *clock) {
		ctx := context.Background()
		fund(b, l, 1000)
		// Two more lots per account, one expiring, one already expired at
		// the time of the reads (never swept: Balance leaves it out).
		for i := range benchAccounts {
			for k, exp := range []time.Time{t0.Add(time.Hour), t0.AddDate(0, 1, 0)} {
				if _, err := l.Grant(ctx, ledger.GrantParams{
					Account: benchAccount(i), IdempotencyKey: fmt.Sprintf("lot-%d-%d", i, k),
					Amount: decimal.NewFromInt(50), ExpiresAt: &exp,
				}); err != nil {
					b.Fatal(err)
				}
			}
		}
		clk.Add(2 * time.Hour)
		i := 0
		for b.Loop() {
			bal, err := l.Balance(ctx, benchAccount(i))
			if err != nil {
				b.Fatal(err)
			}
			if len(bal.Lots) != 2 {
				b.Fatalf("%d open lots, want 2", len(bal.Lots))
			}
			i++
		}
	})
}

// BenchmarkDistribute runs one distribution over benchAccounts accounts
// per iteration: each iteration is a month later, so that every account is
// due its monthly grant (and most have last month's lot to expire).
func BenchmarkDistribute(b *testing.B) {
	eachBenchStore(b, func(b *testing.B, l *ledger.Ledger, clk *clock) { benchDistribute(b, l) })
}

// benchDistribute puts the bench accounts on the reference plans and runs
// a month's distribution per iteration, reporting ns per account.
func benchDistribute(b *testing.B, l *ledger.Ledger) {
	b.Helper()
	ctx := context.Background()
	plans := []string{"free", "pro_yearly", "lifetime"}
	ps := make([]ledger.PlanParams, benchAccounts)
	for i := range ps {
		ps[i] = ledger.PlanParams{Account: benchAccount(i), Plan: plans[i%3], Anchor: t0.AddDate(0, 0, -(i % 28))}
	}
	if err := l.SetPlans(ctx, ps); err != nil {
		b.Fatal(err)
	}
	month := 0
	for b.Loop() {
		month++
		res, err := l.Distribute(ctx, &ledger.DistributeOpts{Now: t0.AddDate(0, month, 0)})
		if err != nil {
			b.Fatal(err)
		}
		if !res.Complete || res.Errors != 0 || res.Granted != benchAccounts {
			b.Fatalf("month %d: %+v", month, res)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchAccounts), "ns/account")
}
