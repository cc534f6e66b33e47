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
	l, err := ledger.New(store, &ledger.Config{Catalog: benchCatalog(c)})
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

	// Consume: the plain-SQL reference, ours with one goroutine and ours
	// with -workers goroutines, interleaved in rounds, so that a change in
	// the machine's load during the phase weighs on each alike.
	var ref *sqliteRefConsume
	if !c.noRef {
		if ref, err = newSQLiteRefConsume(ctx); err != nil {
			return fmt.Errorf("reference consume: %w", err)
		}
		defer ref.close()
	}
	const rounds = 4
	var refTime time.Duration
	var one, many consumeRun
	for r := range rounds {
		n := c.consumes / rounds
		if r == rounds-1 {
			n = c.consumes - n*(rounds-1)
		}
		if ref != nil {
			d, err := ref.run(ctx, n)
			if err != nil {
				return fmt.Errorf("reference consume: %w", err)
			}
			refTime += d
		}
		o, err := sqliteConsumes(ctx, l, c, 1, n)
		if err != nil {
			return err
		}
		one.add(o)
		m, err := sqliteConsumes(ctx, l, c, c.workers, n)
		if err != nil {
			return err
		}
		many.add(m)
	}
	var refRate float64
	if ref != nil {
		refRate = float64(c.consumes) / refTime.Seconds()
		progress("reference consume: %.0f/s", refRate)
	}
	progress("Consume, 1 goroutine: %.0f/s (%s); %d goroutines: %.0f/s (%s)", one.rate(), &one.st, c.workers, many.rate(), &many.st)
	f := figure{Name: "Consume, random accounts, 1 goroutine", Unit: "tps", Value: one.rate(), Reference: refRate, Note: one.st.String()}
	if refRate > 0 {
		f.Ratio = one.rate() / refRate
		f.Target = ">= 0.6x"
		f.Met = ptr(f.Ratio >= 0.6 && one.clean())
	}
	rep.add(f)
	rep.add(figure{
		Name: fmt.Sprintf("Consume, random accounts, %d goroutines (vs our 1 goroutine)", c.workers), Unit: "tps",
		Value: many.rate(), Reference: one.rate(), Ratio: many.rate() / one.rate(), Target: ">= 0.9x, no error",
		Met: ptr(many.rate()/one.rate() >= 0.9 && many.clean()), Note: many.st.String(),
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

// consumeRun adds up the consumes of one kind over the rounds.
type consumeRun struct {
	calls   int64
	elapsed time.Duration
	st      consumeCounts
}

type consumeCounts struct{ ok, insufficient, other int64 }

func (c *consumeCounts) String() string {
	return fmt.Sprintf("%d consumes, %d insufficient credits, %d other errors", c.ok, c.insufficient, c.other)
}

func (r *consumeRun) add(o consumeRun) {
	r.calls += o.calls
	r.elapsed += o.elapsed
	r.st.ok += o.st.ok
	r.st.insufficient += o.st.insufficient
	r.st.other += o.st.other
}

// rate is calls per second, insufficient credits included.
func (r *consumeRun) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// clean reports whether no call failed but for insufficient credits.
func (r *consumeRun) clean() bool { return r.st.other == 0 }

// sqliteConsumes runs count consumes of one credit over random accounts
// with the given number of goroutines.
func sqliteConsumes(ctx context.Context, l *ledger.Ledger, c *config, workers, count int) (consumeRun, error) {
	phase := "consume"
	if workers > 1 {
		phase = "consume-many"
	}
	stop, err := c.startProfile(phase)
	if err != nil {
		return consumeRun{}, err
	}
	defer stop()
	var left atomic.Int64
	left.Store(int64(count))
	var st consumeStats
	el := consumeLoop(ctx, l, workers, func() bool { return left.Add(-1) >= 0 }, func(rng *rand.Rand) string {
		return accountID(1 + rng.IntN(c.n))
	}, &st)
	r := consumeRun{elapsed: el, st: consumeCounts{st.ok.Load(), st.insufficient.Load(), st.other.Load()}}
	r.calls = r.st.ok + r.st.insufficient
	if r.calls == 0 {
		return consumeRun{}, fmt.Errorf("consume with %d goroutines: nothing consumed (%s)", workers, &st)
	}
	return r, nil
}
