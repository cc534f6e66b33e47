package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// runSQLite runs the SQLite phases in a new database file at c.dsn,
// removed at the end unless -keep:
//
//  1. imports -n accounts on the free plan through SetPlans;
//  2. runs Distribute (every account due) and again (nothing due),
//     against the audited grant written set-based in plain SQL;
//  3. runs -consumes consumes over random accounts with one goroutine,
//     against the same number of plain-SQL consume transactions, then
//     with -workers goroutines, against our own one-goroutine rate
//     (SQLite serializes writes: more writers must not collapse it).
func runSQLite(ctx context.Context, c *config) error {
	path := strings.TrimPrefix(c.dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("-dsn %s: the file exists; the benchmark makes a database of its own, give a new path", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	store, err := bunstore.Open(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	if !c.keep {
		defer func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(path + suffix)
			}
		}()
	}
	rep := &report{Accounts: c.n, Date: time.Now().UTC(), CPUs: runtime.NumCPU(), MemoryGiB: memTotalGiB(), GoVersion: runtime.Version()}
	if err := store.DB().QueryRowContext(ctx, "select sqlite_version()").Scan(&rep.SQLite); err != nil {
		return err
	}
	rep.SQLite += " (modernc)"
	l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog()})
	if err != nil {
		return err
	}
	c.freeOnly = true
	t0 := time.Now()
	if err := importAccounts(ctx, l, c); err != nil {
		return err
	}
	rep.ImportSeconds = time.Since(t0).Seconds()
	progress("imported %d accounts in %.1fs", c.n, rep.ImportSeconds)

	var refs distRefs
	refs.target = 2
	if !c.noRef {
		progress("reference: audited grant of %d accounts, set-based plain SQL", c.n)
		d, err := refSQLiteDistribute(ctx, c.n)
		if err != nil {
			return fmt.Errorf("reference distribute: %w", err)
		}
		refs.audited = d.Seconds()
		progress("reference distribute: %.2fs", refs.audited)
	}
	if err := distribute(ctx, l, c, rep, refs); err != nil {
		return err
	}

	// Consume, one goroutine, against the plain-SQL transaction.
	var refRate float64
	if !c.noRef {
		progress("reference: %d plain-SQL consumes, one after another", c.consumes)
		d, err := refSQLiteConsume(ctx, c.consumes)
		if err != nil {
			return fmt.Errorf("reference consume: %w", err)
		}
		refRate = float64(c.consumes) / d.Seconds()
		progress("reference consume: %.0f/s", refRate)
	}
	one, err := sqliteConsumes(ctx, l, c, 1)
	if err != nil {
		return err
	}
	f := figure{Name: "Consume, random accounts, 1 goroutine", Unit: "tps", Value: one.rate, Reference: refRate, Note: one.note}
	if refRate > 0 {
		f.Ratio = one.rate / refRate
		f.Target = ">= 0.6x"
		f.Met = ptr(f.Ratio >= 0.6 && one.clean)
	}
	rep.add(f)
	many, err := sqliteConsumes(ctx, l, c, c.workers)
	if err != nil {
		return err
	}
	rep.add(figure{
		Name: fmt.Sprintf("Consume, random accounts, %d goroutines (vs our 1 goroutine)", c.workers), Unit: "tps",
		Value: many.rate, Reference: one.rate, Ratio: many.rate / one.rate, Target: ">= 0.9x, no error",
		Met: ptr(many.rate/one.rate >= 0.9 && many.clean), Note: many.note,
	})
	rep.add(figure{Name: "peak RSS, whole run", Unit: "MB", Value: float64(vmHWM()) / 1024})

	if c.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(rep)
	return nil
}

type consumeRun struct {
	rate  float64 // calls per second, insufficient credits included
	clean bool    // no error but insufficient credits
	note  string
}

// sqliteConsumes runs -consumes consumes of one credit over random
// accounts with the given number of goroutines.
func sqliteConsumes(ctx context.Context, l *ledger.Ledger, c *config, workers int) (consumeRun, error) {
	progress("Consume: %d calls with %d goroutines...", c.consumes, workers)
	var left atomic.Int64
	left.Store(int64(c.consumes))
	var st consumeStats
	el := consumeLoop(ctx, l, workers, func() bool { return left.Add(-1) >= 0 }, func(rng *rand.Rand) string {
		return accountID(1 + rng.IntN(c.n))
	}, &st)
	calls := st.ok.Load() + st.insufficient.Load()
	if calls == 0 {
		return consumeRun{}, fmt.Errorf("consume with %d goroutines: nothing consumed (%s)", workers, &st)
	}
	r := consumeRun{rate: float64(calls) / el.Seconds(), clean: st.other.Load() == 0, note: st.String()}
	progress("Consume, %d goroutines: %.0f/s (%s)", workers, r.rate, r.note)
	return r, nil
}
