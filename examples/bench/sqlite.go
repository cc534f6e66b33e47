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

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// runSQLite runs the SQLite phases in a new database file at c.dsn,
// removed at the end unless -keep:
//
//  1. imports -n accounts on the free plan through SetPlans;
//  2. runs Distribute (every account due) and again (nothing due),
//     against the audited grant written set-based in plain SQL;
//  3. runs -consumes consumes over random accounts with each worker
//     count of -workers, against the same number of plain-SQL consume
//     transactions from as many goroutines (on one connection, as
//     bunstore's writes are), then the same on one hot account
//     (-skip consume,hot skips them).
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
	l, err := ledger.New(store, &ledger.Config{Catalog: benchCatalog(c), NoEvents: c.noEvents, DisableGroupCommit: c.noGroup})
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
	refs.target = 2.5 // issue #23's (issue #16 asked for 2)
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

	// Consume: the plain-SQL reference and ours, with each worker count of
	// -workers, interleaved in rounds, so that a change in the machine's
	// load during the phase weighs on each alike; over random accounts,
	// then on one hot account.
	skip := map[string]bool{}
	for _, s := range strings.Split(c.skip, ",") {
		skip[strings.TrimSpace(s)] = true
	}
	var ref *sqliteRefConsume
	if !c.noRef && (!skip["consume"] || !skip["hot"]) {
		if ref, err = newSQLiteRefConsume(ctx); err != nil {
			return fmt.Errorf("reference consume: %w", err)
		}
		defer ref.close()
	}
	for _, hot := range []bool{false, true} {
		if skip[map[bool]string{false: "consume", true: "hot"}[hot]] {
			continue
		}
		if err := sqliteConsumePhase(ctx, l, c, rep, ref, hot); err != nil {
			return err
		}
	}
	rep.add(figure{Name: "peak RSS, whole run", Unit: "MB", Value: float64(vmHWM()) / 1024})

	if c.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(rep)
	return nil
}

// fundSpread grants each of the first n accounts as much as the SQLite
// reference seeds each of its accounts with, so that the random-account
// phases never run one dry: on 1,000 accounts they consume 60 credits an
// account and more, past the free plan's 50.
func fundSpread(ctx context.Context, l *ledger.Ledger, n int) error {
	for i := 1; i <= n; i++ {
		if _, err := l.Grant(ctx, ledger.GrantParams{Account: accountID(i), Source: "bench", IdempotencyKey: "bench:spread",
			Amount: decimal.NewFromInt(1_000_000_000)}); err != nil {
			return fmt.Errorf("fund account %d of %d: %w", i, n, err)
		}
	}
	return nil
}

// sqliteConsumePhase runs -consumes consumes per worker count of
// -workers, ours and the reference's, in four interleaved rounds, over
// random accounts or on one hot account, and reports each worker count's
// throughput and latency with its ratio to the reference at as many
// goroutines (one connection: they queue for it, one transaction per
// consume).
func sqliteConsumePhase(ctx context.Context, l *ledger.Ledger, c *config, rep *report, ref *sqliteRefConsume, hot bool) error {
	name := "Consume, random accounts"
	if hot {
		name = "Consume, one hot account"
		// As on PostgreSQL: the hot account never runs dry.
		if _, err := l.Grant(ctx, ledger.GrantParams{Account: accountID(7), Source: "bench", IdempotencyKey: "bench:hot",
			Amount: decimal.NewFromInt(1_000_000_000)}); err != nil {
			return err
		}
	} else if err := fundSpread(ctx, l, c.spreadOf(sqliteRefAccounts)); err != nil {
		return err
	}
	const rounds = 4
	type perWorkers struct {
		ours    consumeRun
		refTime time.Duration
		refLat  []time.Duration
	}
	runs := make([]perWorkers, len(c.workerCounts))
	for r := range rounds {
		n := c.consumes / rounds
		if r == rounds-1 {
			n = c.consumes - n*(rounds-1)
		}
		for i, workers := range c.workerCounts {
			if ref != nil {
				d, lat, err := ref.run(ctx, n, workers, hot)
				if err != nil {
					return fmt.Errorf("reference consume: %w", err)
				}
				runs[i].refTime += d
				runs[i].refLat = append(runs[i].refLat, lat...)
			}
			o, err := sqliteConsumes(ctx, l, c, workers, n, hot)
			if err != nil {
				return err
			}
			runs[i].ours.add(o)
		}
	}
	var oneRate float64 // ours with 1 goroutine, if measured
	for i, workers := range c.workerCounts {
		if workers == 1 {
			oneRate = runs[i].ours.rate()
		}
	}
	for i, workers := range c.workerCounts {
		run := &runs[i]
		lat := summarize(run.ours.lat)
		note := run.ours.st.String()
		if oneRate > 0 && workers > 1 {
			note += fmt.Sprintf("; %.2fx our 1 goroutine", run.ours.rate()/oneRate)
		}
		f := figure{Name: fmt.Sprintf("%s, %s", name, count(workers, "goroutine")), Unit: "tps", Value: run.ours.rate(), Note: note}
		f.setLatency(lat)
		if ref != nil {
			refRate := float64(c.consumes) / run.refTime.Seconds()
			f.Reference, f.Ratio = refRate, run.ours.rate()/refRate
			f.setRefLatency(summarize(run.refLat))
			switch {
			case hot:
			case workers == 1: // issue #16's target
				f.Target = ">= 0.6x"
				f.Met = ptr(f.Ratio >= 0.6 && run.ours.clean())
			case workers == 16: // issue #23's
				f.Target = ">= 2x"
				f.Met = ptr(f.Ratio >= 2 && run.ours.clean())
			}
		}
		progress("%s, %s: %.0f/s, p50 %.3f ms, p99 %.3f ms; reference %.0f/s, p50 %.3f ms, p99 %.3f ms (%s)",
			name, count(workers, "goroutine"), f.Value, f.P50, f.P99, f.Reference, f.RefP50, f.RefP99, note)
		rep.add(f)
	}
	return nil
}

// consumeRun adds up the consumes of one kind over the rounds.
type consumeRun struct {
	calls   int64
	elapsed time.Duration
	st      consumeCounts
	lat     []time.Duration
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
	r.lat = append(r.lat, o.lat...)
}

// rate is calls per second, insufficient credits included.
func (r *consumeRun) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// clean reports whether no call failed but for insufficient credits.
func (r *consumeRun) clean() bool { return r.st.other == 0 }

// sqliteConsumes runs count consumes of one credit over random accounts
// (or the hot one) with the given number of goroutines.
func sqliteConsumes(ctx context.Context, l *ledger.Ledger, c *config, workers, count int, hot bool) (consumeRun, error) {
	phase := "consume"
	if hot {
		phase = "hot"
	}
	if workers > 1 {
		phase += "-many"
	}
	stop, err := c.startProfile(phase)
	if err != nil {
		return consumeRun{}, err
	}
	defer stop()
	var left atomic.Int64
	left.Store(int64(count))
	var st consumeStats
	el, lat := consumeLoop(ctx, l, workers, func() bool { return left.Add(-1) >= 0 }, func(rng *rand.Rand) string {
		if hot {
			return accountID(7)
		}
		return accountID(1 + rng.IntN(c.spreadOf(sqliteRefAccounts)))
	}, &st)
	r := consumeRun{elapsed: el, st: consumeCounts{st.ok.Load(), st.insufficient.Load(), st.other.Load()}, lat: lat}
	r.calls = r.st.ok + r.st.insufficient
	if r.calls == 0 {
		return consumeRun{}, fmt.Errorf("consume with %d goroutines: nothing consumed (%s)", workers, &st)
	}
	return r, nil
}
