// Command sqlitedriver measures bunstore's SQLite store on two pure-Go
// drivers side by side, in one process: modernc.org/sqlite (bunstore's,
// through sqliteshim) and github.com/ncruces/go-sqlite3 (SQLite compiled to
// WebAssembly and run in Go; its database/sql driver keeps compiled
// statements). Issue #23 item 3; the figures and the decision are in
// docs/BENCHMARKS.md ("v0.3").
//
// It is a module of its own so that the driver it tries never enters the
// library's go.mod: every release of ncruces/go-sqlite3 on the module
// proxy needs Go 1.25 or later, and the library's go.mod says go 1.24.0.
//
// Each round, for each driver: a new database, -n accounts imported on the
// free plan, Distribute (every account due), then -consumes consumes over
// random accounts with one goroutine and with -workers goroutines. Rounds
// alternate the drivers' order, so that the machine's load weighs on each
// alike. Usage, from this folder:
//
//	go run . -n 100000 -consumes 5000 -rounds 2
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"
	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// The settings bunstore.Open gives modernc, in the syntax both drivers
// read (_pragma=name(value), _txlock).
const pragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)&_pragma=cache_size(-16384)&_txlock=immediate"

type driver struct{ name, sqlName string }

var drivers = []driver{{"modernc", "sqlite"}, {"ncruces", "sqlite3"}}

type result struct {
	distribute         time.Duration
	one, many          float64 // consumes per second
	oneP50, manyP50    time.Duration
	version            string
	consumeErrs, first string
}

func main() {
	n := flag.Int("n", 100_000, "accounts")
	consumes := flag.Int("consumes", 5_000, "consumes per consume run")
	workers := flag.Int("workers", 16, "goroutines of the second consume run")
	rounds := flag.Int("rounds", 2, "rounds (each runs both drivers, in alternating order)")
	dir := flag.String("dir", os.TempDir(), "folder for the databases (each removed after its run)")
	flag.Parse()
	ctx := context.Background()
	all := map[string][]result{}
	for r := range *rounds {
		order := slices.Clone(drivers)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, d := range order {
			res, err := runOne(ctx, d, *dir, *n, *consumes, *workers)
			if err != nil {
				fmt.Fprintf(os.Stderr, "sqlitedriver: %s: %v\n", d.name, err)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "%s round %d (%s): Distribute %.2fs; consume 1 goroutine %.0f/s (p50 %s), %d goroutines %.0f/s (p50 %s)%s\n",
				time.Now().UTC().Format("15:04:05"), r+1, d.name, res.distribute.Seconds(), res.one, res.oneP50, *workers, res.many, res.manyP50, res.consumeErrs)
			all[d.name] = append(all[d.name], res)
		}
	}
	fmt.Printf("SQLite drivers, %d accounts, %d consumes per run, %d rounds, %s, %d CPUs\n", *n, *consumes, *rounds, runtime.Version(), runtime.NumCPU())
	fmt.Printf("%-8s %-22s %-12s %-22s %-22s\n", "driver", "SQLite", "Distribute", "consume, 1 goroutine", fmt.Sprintf("consume, %d goroutines", *workers))
	for _, d := range drivers {
		for _, res := range all[d.name] {
			fmt.Printf("%-8s %-22s %-12s %-22s %-22s\n", d.name, res.version, fmt.Sprintf("%.2f s", res.distribute.Seconds()),
				fmt.Sprintf("%.0f/s", res.one), fmt.Sprintf("%.0f/s", res.many))
		}
	}
	m, c := all["modernc"], all["ncruces"]
	for i := range min(len(m), len(c)) {
		fmt.Printf("round %d, ncruces vs modernc: Distribute %.2fx faster; consume 1 goroutine %.2fx, %d goroutines %.2fx\n", i+1,
			m[i].distribute.Seconds()/c[i].distribute.Seconds(), c[i].one/m[i].one, *workers, c[i].many/m[i].many)
	}
}

func runOne(ctx context.Context, d driver, dir string, n, consumes, workers int) (res result, err error) {
	path := filepath.Join(dir, fmt.Sprintf("sqlitedriver-%s-%d.db", d.name, os.Getpid()))
	defer func() {
		for _, s := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(path + s)
		}
	}()
	sqldb, err := sql.Open(d.sqlName, "file:"+path+"?"+pragmas)
	if err != nil {
		return res, err
	}
	sqldb.SetMaxOpenConns(1) // as bunstore.Open does: one writer
	sqldb.SetMaxIdleConns(1)
	defer sqldb.Close()
	if err := sqldb.QueryRowContext(ctx, "select sqlite_version()").Scan(&res.version); err != nil {
		return res, err
	}
	store, err := bunstore.New(bun.NewDB(sqldb, sqlitedialect.New()), nil)
	if err != nil {
		return res, err
	}
	l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog()})
	if err != nil {
		return res, err
	}
	for i := 1; i <= n; i += 10_000 {
		batch := make([]ledger.PlanParams, 0, 10_000)
		for j := i; j <= n && j < i+10_000; j++ {
			batch = append(batch, ledger.PlanParams{Account: "user_" + strconv.Itoa(j), Plan: "free"})
		}
		if err := l.SetPlans(ctx, batch); err != nil {
			return res, fmt.Errorf("import: %w", err)
		}
	}
	runtime.GC()
	dr, err := l.Distribute(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("distribute: %w", err)
	}
	if !dr.Complete || dr.Granted != n {
		return res, fmt.Errorf("distribute: %+v", dr)
	}
	res.distribute = dr.Duration
	var p50 time.Duration
	var errs int64
	var first error
	if res.one, p50, errs, first = consumeRun(ctx, l, n, consumes, 1); errs == 0 {
		res.oneP50 = p50
	}
	var e2 int64
	var f2 error
	res.many, res.manyP50, e2, f2 = consumeRun(ctx, l, n, consumes, workers)
	if errs+e2 > 0 {
		res.consumeErrs = fmt.Sprintf("; %d failed consumes, first: %v", errs+e2, errors.Join(first, f2))
	}
	return res, nil
}

// consumeRun runs count consumes of one credit over random accounts with
// workers goroutines, and returns their rate, the median latency, and the
// failures other than insufficient credits.
func consumeRun(ctx context.Context, l *ledger.Ledger, n, count, workers int) (float64, time.Duration, int64, error) {
	var left, failed atomic.Int64
	left.Store(int64(count))
	var firstErr atomic.Value
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	one := decimal.NewFromInt(1)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var mine []time.Duration
			for left.Add(-1) >= 0 {
				t := time.Now()
				_, err := l.Consume(ctx, ledger.ConsumeParams{Account: "user_" + strconv.Itoa(1+rng.IntN(n)), Amount: one})
				mine = append(mine, time.Since(t))
				if err != nil && !errors.Is(err, ledger.ErrInsufficientCredits) {
					if failed.Add(1) == 1 {
						firstErr.Store(err)
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	err, _ := firstErr.Load().(error)
	return float64(count) / el.Seconds(), lat[len(lat)/2], failed.Load(), err
}
