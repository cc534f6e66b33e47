// Command bench measures creditledger against raw-SQL references that it
// carries (reference/, embedded; see docs/BENCHMARKS.md at the repository
// root), in one run on one database, and prints each figure with its
// ratio to the reference. With a PostgreSQL URL it runs the phases below;
// with a SQLite file path it runs the SQLite phases (see sqlite.go).
//
// It works in a schema of its own (-schema, default creditledger_bench),
// created at the start and dropped at the end unless -keep:
//
//  1. imports -n accounts through ledger.SetPlans (free, pro_yearly and
//     lifetime of policy.ReferenceCatalog(), one in three each);
//  2. runs Distribute once (every account due a grant) and again in the
//     same period (nothing due), against psql -f distribute_audited.sql
//     (the audited floor: lot, entry, account update) and
//     distribute_limit.sql (lot-only);
//  3. runs Consume for -duration over random accounts, then on one hot
//     account, once per worker count of -workers (default 1,4,16), each
//     after consume_limit.pgbench (-D hot=0 and -D hot=1, after
//     consume_seed.sql) with as many clients, and reports throughput,
//     p50/p99 latency per call and the ratio to that pgbench run;
//     then holds 3 credits and captures 2 (Hold then Capture) with each
//     worker count for -duration over random accounts, and reports the
//     pairs per second and their ratio to the consumes per second at as
//     many workers (skip with -skip hold);
//  4. reads balances with -readers concurrent readers and reports p50/p99.
//
// Usage, from the repository root:
//
//	go run ./examples/bench                      # 1,000,000 accounts, local test database
//	go run ./examples/bench -n 100000 -duration 10s
//	go run ./examples/bench -dsn postgres://... -json
//	go run ./examples/bench -dsn /tmp/bench.db -n 100000   # SQLite
//	go run ./examples/bench -n 200000 -no-ref -citus postgres://postgres@127.0.0.1:9700/postgres   # and on Citus, side by side
//
// The DSN comes from -dsn, else DATABASE_URL, else the local test database.
// psql and pgbench must be on PATH for the PostgreSQL reference (-no-ref
// skips it; -ref DIR reads the reference files from DIR instead of the
// embedded copy).
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of the admin connection
	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/bunstore"
)

const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

type config struct {
	dsn          string
	schema       string
	n            int
	spread       int // -spread: accounts the random-account phases pick from
	duration     time.Duration
	readDuration time.Duration
	workers      int   // the largest of workerCounts (connection pool sizing)
	workerCounts []int // -workers: each consume and hold phase runs once per count
	lowBalance   int   // Catalog.LowBalance[""] when > 0
	noEvents     bool  // ledger.Config.NoEvents
	readers      int
	ref          string
	noRef        bool
	consumes     int
	keep         bool
	freeOnly     bool // import every account on the free plan (the SQLite reference's)
	jsonOut      bool
	chunk        int
	importBatch  int
	cpuProfile   string
	profilePhase string
	memProfile   string
	skip         string
	trace        bool
	parallel     int
	noGroup      bool // ledger.Config.DisableGroupCommit
	showProgress bool
	citusDSN     string // -citus: run again on this Citus coordinator (citus.go)
	citusShards  int
	onCitus      bool // this run is the Citus one: distribute the schema
}

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", "", "PostgreSQL URL (default $DATABASE_URL, else "+defaultDSN+")")
	flag.StringVar(&c.schema, "schema", "creditledger_bench", "schema the benchmark creates and works in")
	flag.IntVar(&c.n, "n", 1_000_000, "accounts to import")
	flag.IntVar(&c.spread, "spread", 0, "accounts the random-account consume and hold phases pick from, the first ones imported (0: as many as the consume reference seeds, 100,000 on PostgreSQL and 1,000 on SQLite, so that both write to as many rows; at most -n)")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "duration of each consume run (ours and pgbench -T)")
	flag.DurationVar(&c.readDuration, "read-duration", 10*time.Second, "duration of the balance readers")
	workers := flag.String("workers", "1,4,16", "concurrent consumers (and pgbench -c): each consume and hold phase runs once per count, comma-separated")
	flag.IntVar(&c.readers, "readers", 16, "concurrent balance readers")
	flag.StringVar(&c.ref, "ref", "", "folder of the raw-SQL reference files (default: the copy embedded in this program)")
	flag.BoolVar(&c.noRef, "no-ref", false, "skip the raw-SQL reference")
	flag.IntVar(&c.consumes, "consumes", 20_000, "SQLite: consumes per consume phase (ours and the reference)")
	flag.BoolVar(&c.keep, "keep", false, "keep the schema at the end")
	flag.BoolVar(&c.jsonOut, "json", false, "print the results as JSON instead of a table")
	flag.IntVar(&c.chunk, "chunk", 0, "Distribute chunk size (0: ledger.DefaultChunkSize)")
	flag.IntVar(&c.importBatch, "import-batch", 10_000, "accounts per SetPlans call during the import")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the phase -profile to this file")
	flag.StringVar(&c.profilePhase, "profile", "distribute", "phase -cpuprofile profiles: distribute, consume, hot, hold or balance (SQLite: distribute, consume and hot with one goroutine, consume-many and hot-many with more)")
	flag.StringVar(&c.memProfile, "memprofile", "", "write an allocation profile (after Distribute) to this file")
	flag.StringVar(&c.skip, "skip", "", "comma-separated phases to skip: distribute, consume, hot, hold, balance")
	flag.BoolVar(&c.noGroup, "no-group-commit", false, "ledger.Config.DisableGroupCommit: every write in a transaction of its own (v0.2's path)")
	flag.BoolVar(&c.noEvents, "no-events", false, "ledger.Config.NoEvents: write no events (the baseline of their cost)")
	flag.IntVar(&c.lowBalance, "low-balance", 0, "a balance.low threshold on the default pool (0: none), to measure the events' cost (docs/EVENTS.md)")
	flag.IntVar(&c.parallel, "parallel", 2, "bunstore Options.Parallel: chunks one Distribute serves at once")
	flag.BoolVar(&c.trace, "trace", false, "print the time spent in each kind of SQL statement after each phase")
	flag.BoolVar(&c.showProgress, "progress", false, "print Distribute's progress after each chunk (DistributeOpts.Progress) to stderr")
	flag.StringVar(&c.citusDSN, "citus", "", "a Citus coordinator's URL: after the run on -dsn, the same phases on a schema distributed there, and the two side by side (see citus.go)")
	flag.IntVar(&c.citusShards, "citus-shards", 0, "with -citus: shards per table (0: the cluster's citus.shard_count)")
	flag.Parse()
	var err error
	if c.workerCounts, err = parseWorkerCounts(*workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	c.workers = slices.Max(c.workerCounts)
	if c.dsn == "" {
		c.dsn = os.Getenv("DATABASE_URL")
	}
	if c.dsn == "" {
		c.dsn = defaultDSN
	}
	if err := start(context.Background(), &c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// The accounts each consume reference seeds: consume_seed.sql's on
// PostgreSQL, sqlite_reference.go's on SQLite.
const (
	pgRefAccounts     = 100_000
	sqliteRefAccounts = 1000
)

// spreadOf is how many accounts the random-account phases pick from: -spread,
// else as many as the reference (ref) picks from, at most -n, so that both
// sides spread their writes over as many rows. (Our tables stay as large
// as -n makes them: on PostgreSQL with 1,000,000 accounts, picking among
// 100,000 or all of them measured the same; docs/BENCHMARKS.md.)
func (c *config) spreadOf(ref int) int {
	n := c.spread
	if n <= 0 {
		n = ref
	}
	return min(n, c.n)
}

// figure is one measured value and its reference.
type figure struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Value     float64 `json:"value"`
	Reference float64 `json:"reference,omitempty"`
	// Ratio is value / reference: for times lower is better, for
	// throughputs higher is better.
	Ratio  float64 `json:"ratio,omitempty"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	Note   string  `json:"note,omitempty"`
	// P50 and P99 are the per-call latencies of a throughput figure in
	// ms, RefP50 and RefP99 the reference's (0: not measured).
	P50    float64 `json:"p50Ms,omitempty"`
	P99    float64 `json:"p99Ms,omitempty"`
	RefP50 float64 `json:"refP50Ms,omitempty"`
	RefP99 float64 `json:"refP99Ms,omitempty"`
	// RefUnit is the reference's unit when it is not Unit.
	RefUnit string `json:"refUnit,omitempty"`
}

func (f *figure) setLatency(s latencySummary)    { f.P50, f.P99 = ms(s.P50), ms(s.P99) }
func (f *figure) setRefLatency(s latencySummary) { f.RefP50, f.RefP99 = ms(s.P50), ms(s.P99) }

type report struct {
	Accounts      int       `json:"accounts"`
	Date          time.Time `json:"date"`
	CPUs          int       `json:"cpus"`
	MemoryGiB     float64   `json:"memoryGiB"`
	Postgres      string    `json:"postgres,omitempty"`
	SQLite        string    `json:"sqlite,omitempty"`
	GoVersion     string    `json:"go"`
	ImportSeconds float64   `json:"importSeconds"`
	Figures       []figure  `json:"figures"`
}

func (r *report) add(f figure) { r.Figures = append(r.Figures, f) }

// start picks the store from the DSN and the reference files, then runs.
func start(ctx context.Context, c *config) error {
	if !isPostgres(c.dsn) {
		return runSQLite(ctx, c)
	}
	switch {
	case c.noRef:
		c.ref = ""
	case c.ref == "":
		dir, cleanup, err := writeReference()
		if err != nil {
			return err
		}
		defer cleanup()
		c.ref = dir
	}
	if c.citusDSN != "" {
		return runWithCitus(ctx, c)
	}
	rep, err := run(ctx, c)
	if err != nil {
		return err
	}
	return printReport(c, rep)
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func run(ctx context.Context, c *config) (*report, error) {
	rep := &report{}
	return rep, runInto(ctx, c, rep)
}

func runInto(ctx context.Context, c *config, rep *report) error {
	skip := map[string]bool{}
	for _, s := range strings.Split(c.skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			skip[s] = true
		}
	}
	if !regexp.MustCompile(`^[a-z_][a-z0-9_]*$`).MatchString(c.schema) {
		return fmt.Errorf("-schema %q: want a plain lower-case identifier", c.schema)
	}
	if c.ref != "" {
		for _, f := range referenceNames {
			if _, err := os.Stat(filepath.Join(c.ref, f)); err != nil {
				return fmt.Errorf("reference file (set -ref, or -no-ref to skip the reference): %w", err)
			}
		}
	}
	admin, err := sql.Open("pgx", c.dsn)
	if err != nil {
		return err
	}
	defer admin.Close()
	*rep = report{Accounts: c.n, Date: time.Now().UTC(), CPUs: runtime.NumCPU(), MemoryGiB: memTotalGiB(), GoVersion: runtime.Version()}
	if err := admin.QueryRowContext(ctx, "SHOW server_version").Scan(&rep.Postgres); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+c.schema+" CASCADE"); err != nil {
		return err
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+c.schema); err != nil {
		return err
	}
	if !c.keep {
		defer func() {
			if _, err := admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+c.schema+" CASCADE"); err != nil {
				fmt.Fprintln(os.Stderr, "bench: drop schema:", err)
			}
		}()
	}
	storeDSN, err := withSearchPath(c.dsn, c.schema)
	if err != nil {
		return err
	}
	opts := &bunstore.Options{Parallel: c.parallel, Citus: c.onCitus, CitusShardCount: c.citusShards}
	var tr *tracer
	if c.trace {
		tr = &tracer{stats: map[string]*traceStat{}}
		opts.Tracer = tr
	}
	store, err := bunstore.OpenWith(ctx, storeDSN, opts)
	if err != nil {
		return err
	}
	defer store.Close()
	// database/sql keeps 2 idle connections by default: with more
	// concurrent callers than that it would reconnect all the time.
	store.DB().SetMaxIdleConns(max(c.workers, c.readers) + 2)
	dump := func(phase string) {
		if tr != nil {
			tr.dump(phase)
		}
	}
	l, err := ledger.New(store, &ledger.Config{Catalog: benchCatalog(c), NoEvents: c.noEvents, DisableGroupCommit: c.noGroup})
	if err != nil {
		return err
	}

	// 1. Import.
	t0 := time.Now()
	if err := importAccounts(ctx, l, c); err != nil {
		return err
	}
	rep.ImportSeconds = time.Since(t0).Seconds()
	dump("import")
	if _, err := admin.ExecContext(ctx, "ANALYZE "+c.schema+".creditledger_accounts"); err != nil {
		return err
	}
	progress("imported %d accounts in %.1fs (%.0f accounts/s)", c.n, rep.ImportSeconds, float64(c.n)/rep.ImportSeconds)

	// 2. Distribution.
	if !skip["distribute"] {
		var refs distRefs
		if c.ref != "" {
			progress("reference: psql -v n=%d -f distribute_audited.sql", c.n)
			if refs.audited, err = refDistribute(ctx, c, "distribute_audited.sql"); err != nil {
				return err
			}
			progress("reference: psql -v n=%d -f distribute_limit.sql", c.n)
			if refs.limit, err = refDistribute(ctx, c, "distribute_limit.sql"); err != nil {
				return err
			}
			progress("reference distribute: audited %.2fs, lot-only %.2fs", refs.audited, refs.limit)
		}
		if err := distribute(ctx, l, c, rep, refs); err != nil {
			return err
		}
		dump("distribute")
	}

	// 3. Consume.
	var consumeRates map[int]float64 // random accounts, per worker count
	if !skip["consume"] || !skip["hot"] {
		if c.ref != "" {
			if err := psql(ctx, c, "-f", filepath.Join(c.ref, "consume_seed.sql")); err != nil {
				return fmt.Errorf("consume_seed.sql: %w", err)
			}
			defer func() {
				_, _ = admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS climit_c CASCADE")
			}()
		}
		if skip["distribute"] {
			// Consumers need credits: the distribution grants them.
			if _, err := l.Distribute(ctx, nil); err != nil {
				return err
			}
		}
		if !skip["consume"] {
			if consumeRates, err = consume(ctx, l, c, rep, false); err != nil {
				return err
			}
			dump("consume, random accounts")
		}
		if !skip["hot"] {
			if _, err := consume(ctx, l, c, rep, true); err != nil {
				return err
			}
			dump("consume, hot account")
		}
	}

	// 3b. Hold + capture (the metered-call pattern), next to Consume.
	if !skip["hold"] {
		if skip["distribute"] && skip["consume"] && skip["hot"] {
			if _, err := l.Distribute(ctx, nil); err != nil {
				return err
			}
		}
		if err := holdCapture(ctx, l, c, rep, consumeRates); err != nil {
			return err
		}
		dump("hold+capture")
	}

	// 4. Balance.
	if !skip["balance"] {
		if err := balances(ctx, l, c, rep); err != nil {
			return err
		}
		dump("balance")
	}
	rep.add(figure{Name: "peak RSS, whole run", Unit: "MB", Value: float64(vmHWM()) / 1024})
	return nil
}

func printReport(c *config, rep *report) error {
	if c.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(rep)
	return nil
}

func planOf(i int) string {
	switch i % 3 {
	case 0:
		return "free"
	case 1:
		return "pro_yearly"
	default:
		return "lifetime"
	}
}

func accountID(i int) string { return "user_" + strconv.Itoa(i) }

// importAccounts puts accounts user_1..user_n on plans with SetPlans,
// -import-batch at a time, printing progress.
func importAccounts(ctx context.Context, l *ledger.Ledger, c *config) error {
	now := time.Now().UTC()
	start := time.Now()
	last := start
	batch := make([]ledger.PlanParams, 0, c.importBatch)
	for i := 1; i <= c.n; {
		batch = batch[:0]
		for ; i <= c.n && len(batch) < c.importBatch; i++ {
			p := ledger.PlanParams{Account: accountID(i), Plan: planOf(i)}
			if c.freeOnly {
				p.Plan = "free"
			}
			if p.Plan != "free" {
				// Subscriptions started on various days of the last month.
				p.Anchor = now.AddDate(0, 0, -(i % 28)).Add(-time.Hour)
			}
			batch = append(batch, p)
		}
		if err := l.SetPlans(ctx, batch); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if time.Since(last) >= time.Second || i > c.n {
			last = time.Now()
			done := i - 1
			el := time.Since(start).Seconds()
			fmt.Fprintf(os.Stderr, "\rimport: %d/%d accounts (%.0f%%), %.0f accounts/s   ", done, c.n,
				100*float64(done)/float64(c.n), float64(done)/el)
		}
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

// distRefs are the two distribution references, in seconds (0: not run).
type distRefs struct {
	audited float64 // lot, entry and account update per account: the target
	limit   float64 // lot and balance only
	target  float64 // the ratio to audited to meet; 0: 1.2 (PostgreSQL's)
}

func distribute(ctx context.Context, l *ledger.Ledger, c *config, rep *report, refs distRefs) error {
	opts := &ledger.DistributeOpts{ChunkSize: c.chunk}
	if c.showProgress {
		opts.Progress = func(p ledger.DistributeProgress) {
			fmt.Fprintf(os.Stderr, "\rdistribute: %d/%d accounts (%.0f%%), %d granted, %s   ", p.Accounts, c.n,
				100*float64(p.Accounts)/float64(c.n), p.Granted, p.Elapsed.Round(time.Millisecond))
		}
	}
	stop, err := c.startProfile("distribute")
	if err != nil {
		return err
	}
	runtime.GC()
	resetHWM()
	progress("Distribute over %d accounts...", c.n)
	res, err := l.Distribute(ctx, opts)
	stop()
	if c.showProgress {
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return fmt.Errorf("distribute: %w", err)
	}
	peak := float64(vmHWM()) / 1024
	if c.memProfile != "" {
		f, err := os.Create(c.memProfile)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
		f.Close()
	}
	if !res.Complete || res.Errors != 0 || res.Granted != c.n {
		return fmt.Errorf("distribute: complete %v, errors %d, granted %d lots of %d accounts", res.Complete, res.Errors, res.Granted, c.n)
	}
	secs := res.Duration.Seconds()
	progress("Distribute: %d accounts, %d lots, %s credits in %.2fs", res.Accounts, res.Granted, res.GrantedCredits, secs)
	note := fmt.Sprintf("%d lots granted; %.0f accounts/s", res.Granted, float64(res.Granted)/secs)
	if refs.limit > 0 {
		note += fmt.Sprintf("; %.2fx the lot-only floor (%.2fs)", secs/refs.limit, refs.limit)
	}
	if refs.target == 0 {
		refs.target = 1.2
	}
	rep.add(timeFigure("Distribute, every account due a grant (vs audited floor)", secs, refs.audited, refs.target, note))
	rep.add(figure{Name: "peak RSS during Distribute", Unit: "MB", Value: peak, Target: "<= 100 MB", Met: ptr(peak <= 100)})

	res2, err := l.Distribute(ctx, opts)
	if err != nil {
		return fmt.Errorf("second distribute: %w", err)
	}
	if res2.Granted != 0 || res2.Accounts != 0 {
		return fmt.Errorf("second distribute in the same period wrote %d lots over %d accounts", res2.Granted, res2.Accounts)
	}
	rep.add(timeFigure("Distribute again, nothing due (vs audited floor)", res2.Duration.Seconds(), refs.audited, 0.1, ""))
	return nil
}

// startProfile starts the CPU profile if phase is the one to profile, and
// returns the function that stops it.
func (c *config) startProfile(phase string) (func(), error) {
	if c.cpuProfile == "" || c.profilePhase != phase {
		return func() {}, nil
	}
	f, err := os.Create(c.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func timeFigure(name string, secs, ref, target float64, note string) figure {
	f := figure{Name: name, Unit: "s", Value: secs, Reference: ref, Note: note}
	if ref > 0 {
		f.Ratio = secs / ref
		f.Target = fmt.Sprintf("<= %gx", target)
		f.Met = ptr(f.Ratio <= target)
	}
	return f
}

// consume runs the consume phase over random accounts or on one hot
// account once per worker count of -workers: the matching pgbench run with
// as many clients, then ours with as many workers, each for -duration.
// It returns our throughput per worker count.
func consume(ctx context.Context, l *ledger.Ledger, c *config, rep *report, hot bool) (map[int]float64, error) {
	name, hotArg := "Consume, random accounts", "hot=0"
	if hot {
		name, hotArg = "Consume, one hot account", "hot=1"
	}
	hotID := accountID(7)
	if hot {
		// As the reference seeds its accounts, so that 20 s of consumes
		// never run the hot account dry.
		if _, err := l.Grant(ctx, ledger.GrantParams{Account: hotID, Source: "bench", IdempotencyKey: "bench:hot",
			Amount: decimal.NewFromInt(1_000_000_000)}); err != nil {
			return nil, err
		}
	}
	phase := map[bool]string{false: "consume", true: "hot"}[hot]
	rates := map[int]float64{}
	for _, workers := range c.workerCounts {
		var ref pgbenchResult
		if c.ref != "" {
			progress("reference: pgbench -D %s -c %d -T %s", hotArg, workers, c.duration)
			var err error
			if ref, err = refPgbench(ctx, c, hotArg, workers); err != nil {
				return nil, err
			}
			progress("reference %s, %d clients: %.0f tps, p50 %.3f ms, p99 %.3f ms", hotArg, workers, ref.tps, ms(ref.lat.P50), ms(ref.lat.P99))
		}
		stopProfile, err := c.startProfile(phase)
		if err != nil {
			return nil, err
		}
		progress("%s: %s for %s...", name, count(workers, "worker"), c.duration)
		stop := time.Now().Add(c.duration)
		var st consumeStats
		el, all := consumeLoop(ctx, l, workers, func() bool { return time.Now().Before(stop) }, func(rng *rand.Rand) string {
			if hot {
				return hotID
			}
			return accountID(1 + rng.IntN(c.spreadOf(pgRefAccounts)))
		}, &st)
		stopProfile()
		lat := summarize(all)
		tps := float64(st.ok.Load()+st.insufficient.Load()) / el.Seconds()
		rates[workers] = tps
		note := st.String()
		progress("%s, %d workers: %.0f tps, p50 %.3f ms, p99 %.3f ms (%s)", name, workers, tps, ms(lat.P50), ms(lat.P99), note)
		f := figure{Name: fmt.Sprintf("%s, %s", name, count(workers, "worker")), Unit: "tps", Value: tps, Note: note}
		f.setLatency(lat)
		if ref.tps > 0 {
			f.Reference, f.Ratio = ref.tps, tps/ref.tps
			f.setRefLatency(ref.lat)
			// The targets of issue #23 are set at 16 workers.
			if workers == 16 {
				want := map[bool]float64{false: 1.5, true: 3}[hot]
				f.Target = fmt.Sprintf(">= %gx", want)
				f.Met = ptr(f.Ratio >= want && st.other.Load() == 0)
			}
		}
		rep.add(f)
	}
	return rates, nil
}

// consumeStats counts the outcomes of a consume phase.
type consumeStats struct {
	ok, insufficient, other atomic.Int64
	firstErr                atomic.Value
}

func (st *consumeStats) String() string {
	s := fmt.Sprintf("%d consumes, %d insufficient credits, %d other errors", st.ok.Load(), st.insufficient.Load(), st.other.Load())
	if e, _ := st.firstErr.Load().(error); e != nil {
		s += "; first: " + e.Error()
	}
	return s
}

// consumeLoop runs workers goroutines that each consume one credit per
// call, from the account pick returns, for as long as more says so, and
// returns the time they took and the calls' latencies (every call, failed
// ones included).
func consumeLoop(ctx context.Context, l *ledger.Ledger, workers int, more func() bool, pick func(*rand.Rand) string, st *consumeStats) (time.Duration, []time.Duration) {
	one := decimal.NewFromInt(1)
	var wg sync.WaitGroup
	var lats latencies
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 42))
			lat := make([]time.Duration, 0, 4096)
			defer func() { lats.add(lat) }()
			for more() {
				acct := pick(rng)
				t := time.Now()
				_, err := l.Consume(ctx, ledger.ConsumeParams{Account: acct, Amount: one, Description: "bench"})
				lat = append(lat, time.Since(t))
				switch {
				case err == nil:
					st.ok.Add(1)
				case errors.Is(err, ledger.ErrInsufficientCredits):
					st.insufficient.Add(1)
				default:
					if st.other.Add(1) == 1 {
						st.firstErr.Store(err)
					}
				}
			}
		}(uint64(w))
	}
	wg.Wait()
	el := time.Since(start)
	return el, lats.all
}

func balances(ctx context.Context, l *ledger.Ledger, c *config, rep *report) error {
	stopProfile, err := c.startProfile("balance")
	if err != nil {
		return err
	}
	defer stopProfile()
	progress("Balance: %d readers for %s...", c.readers, c.readDuration)
	lat := make([][]time.Duration, c.readers)
	var errs atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(c.readDuration)
	var wg sync.WaitGroup
	start := time.Now()
	for r := 0; r < c.readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for time.Now().Before(stop) {
				t := time.Now()
				_, err := l.Balance(ctx, accountID(1+rng.IntN(c.n)))
				lat[r] = append(lat[r], time.Since(t))
				if err != nil && errs.Add(1) == 1 {
					firstErr.Store(err)
				}
			}
		}(r)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return errors.New("balance: no reads")
	}
	sum := summarize(all)
	if e, _ := firstErr.Load().(error); e != nil {
		return fmt.Errorf("balance: %d errors; first: %w", errs.Load(), e)
	}
	note := fmt.Sprintf("%d reads, %.0f reads/s", len(all), float64(len(all))/el)
	rep.add(figure{Name: fmt.Sprintf("Balance p50, %d readers", c.readers), Unit: "ms", Value: ms(sum.P50), Note: note})
	p99 := ms(sum.P99)
	f := figure{Name: fmt.Sprintf("Balance p99, %d readers", c.readers), Unit: "ms", Value: p99, Target: "< 1 ms", Met: ptr(p99 < 1)}
	if c.ref != "" {
		// The floor: the same query from pgbench, with as many clients.
		refP50, refP99, tps, err := refBalance(ctx, c)
		if err != nil {
			return err
		}
		f.Note = fmt.Sprintf("the store's balance query alone from pgbench -c %d: p50 %.3f ms, p99 %.3f ms, %.0f reads/s",
			c.readers, refP50, refP99, tps)
	}
	rep.add(f)
	progress("Balance: p50 %.3f ms, p99 %.3f ms (%s)", ms(sum.P50), p99, note)
	return nil
}

// refBalance runs the store's balance query (bunstore's
// AccountWithOpenLots) from pgbench with -readers clients over random
// accounts, and returns its latency p50 and p99 in ms and its rate.
func refBalance(ctx context.Context, c *config) (p50, p99, tps float64, err error) {
	dir, err := os.MkdirTemp("", "creditledger-bench-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(dir)
	script := fmt.Sprintf(`\set uid random(1, %d)
SELECT a.id, a.plan, a.anchor, a.balance, a.seq, a.created_at, a.next_grant_at, a.next_expiry_at, l.id, l.operation_id, l.source, l.amount, l.remaining, l.priority, l.expires_at, l.created_at FROM %[2]s.creditledger_accounts AS a LEFT JOIN %[2]s.creditledger_lots AS l ON l.account_id = a.id AND l.remaining > 0 AND coalesce(l.expires_at, 'infinity'::timestamptz) > now() WHERE a.id = 'user_' || :uid ORDER BY l.id;
`, c.n, c.schema)
	file := filepath.Join(dir, "balance.pgbench")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		return 0, 0, 0, err
	}
	secs := max(1, int(c.readDuration.Round(time.Second).Seconds()))
	r, err := runPgbench(ctx, c, "(balance)", "-n", "-f", file, "-c", strconv.Itoa(c.readers), "-j", "2", "-T", strconv.Itoa(secs))
	if err != nil {
		return 0, 0, 0, err
	}
	return ms(r.lat.P50), ms(r.lat.P99), r.tps, nil
}

// refDistribute runs a distribution reference (distribute_audited.sql or
// distribute_limit.sql) and returns the sum of the times of its two timed
// statements (the grant and the balance update).
func refDistribute(ctx context.Context, c *config, file string) (float64, error) {
	out, err := psqlOutput(ctx, c, "-v", "n="+strconv.Itoa(c.n), "-f", filepath.Join(c.ref, file))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return parseReferenceTimes(out)
}

var timeLine = regexp.MustCompile(`^Time: ([0-9.]+) ms`)

// parseReferenceTimes sums the first \timing line after each "reference:"
// echo.
func parseReferenceTimes(out string) (float64, error) {
	var total float64
	found, armed := 0, false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "reference:") {
			armed = true
			continue
		}
		if m := timeLine.FindStringSubmatch(line); m != nil && armed {
			ms, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return 0, err
			}
			total += ms / 1000
			found++
			armed = false
		}
	}
	if found != 2 {
		return 0, fmt.Errorf("found %d timed reference statements, want 2, in:\n%s", found, out)
	}
	return total, nil
}

var tpsLine = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)

// pgbenchResult is a pgbench run's throughput and per-transaction
// latencies (from its -l log).
type pgbenchResult struct {
	tps float64
	lat latencySummary
}

// refPgbench runs consume_limit.pgbench with -D hot, -c clients for
// -duration, logging every transaction for its latency.
func refPgbench(ctx context.Context, c *config, hot string, clients int) (pgbenchResult, error) {
	secs := max(1, int(c.duration.Round(time.Second).Seconds()))
	script, err := filepath.Abs(filepath.Join(c.ref, "consume_limit.pgbench"))
	if err != nil {
		return pgbenchResult{}, err
	}
	return runPgbench(ctx, c, "-D "+hot, "-n", "-D", hot, "-f", script, "-c", strconv.Itoa(clients),
		"-j", strconv.Itoa(min(2, clients)), "-T", strconv.Itoa(secs))
}

// runPgbench runs pgbench with args and -l in a temporary folder, and
// returns its tps and the latencies of its log. what names the run in
// errors.
func runPgbench(ctx context.Context, c *config, what string, args ...string) (pgbenchResult, error) {
	dir, err := os.MkdirTemp("", "creditledger-bench-")
	if err != nil {
		return pgbenchResult{}, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "pgbench", append(append([]string{"-l"}, args...), psqlDSN(c.dsn))...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench %s: %w\n%s", what, err, out.String())
	}
	m := tpsLine.FindStringSubmatch(out.String())
	if m == nil {
		return pgbenchResult{}, fmt.Errorf("pgbench %s: no tps in:\n%s", what, out.String())
	}
	var r pgbenchResult
	r.tps, _ = strconv.ParseFloat(m[1], 64)
	logs, _ := filepath.Glob(filepath.Join(dir, "pgbench_log.*"))
	var lat []time.Duration
	for _, lf := range logs {
		b, err := os.ReadFile(lf)
		if err != nil {
			return pgbenchResult{}, err
		}
		lat = append(lat, parsePgbenchLog(string(b))...)
	}
	if len(lat) == 0 {
		return pgbenchResult{}, fmt.Errorf("pgbench %s: no latency log", what)
	}
	r.lat = summarize(lat)
	return r, nil
}

func psql(ctx context.Context, c *config, args ...string) error {
	_, err := psqlOutput(ctx, c, args...)
	return err
}

func psqlOutput(ctx context.Context, c *config, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "psql", append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", psqlDSN(c.dsn)}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out.String())
	}
	return out.String(), nil
}

// psqlDSN drops the URL parameters libpq does not know (pgx accepts any
// run-time parameter, libpq refuses them).
func psqlDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "sslmode", "sslrootcert", "sslcert", "sslkey", "password", "user", "host", "port", "dbname",
			"connect_timeout", "application_name", "options", "target_session_attrs", "passfile":
		default:
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("the DSN must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// vmHWM returns the process's peak resident set size in KiB.
func vmHWM() int64 {
	return procStatus("/proc/self/status", "VmHWM:")
}

func memTotalGiB() float64 {
	return float64(procStatus("/proc/meminfo", "MemTotal:")) / (1 << 20)
}

func procStatus(file, key string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			f := strings.Fields(line[len(key):])
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// resetHWM resets the peak RSS to the current RSS (Linux >= 4.0), so that
// the peak read after a phase is the phase's own.
func resetHWM() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

func ptr[T any](v T) *T { return &v }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func printTable(r *report) {
	db := "PostgreSQL " + r.Postgres
	if r.Postgres == "" {
		db = "SQLite " + r.SQLite
	}
	fmt.Printf("creditledger benchmark: %d accounts, %s, %d CPUs, %.1f GiB, %s, %s\n",
		r.Accounts, r.Date.Format("2006-01-02 15:04 UTC"), r.CPUs, r.MemoryGiB, db, r.GoVersion)
	fmt.Printf("import through SetPlans: %.1f s (%.0f accounts/s)\n\n", r.ImportSeconds, float64(r.Accounts)/r.ImportSeconds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tcreditledger\tp50 / p99\treference\tp50 / p99\tratio\ttarget\tmet\tnote")
	lat := func(p50, p99 float64) string {
		if p50 == 0 && p99 == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f / %.2f ms", p50, p99)
	}
	for _, f := range r.Figures {
		ref, ratio, met := "", "", ""
		if f.Reference > 0 {
			ref = fmtValue(f.Reference, cmp.Or(f.RefUnit, f.Unit))
			ratio = fmt.Sprintf("%.2fx", f.Ratio)
		}
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, fmtValue(f.Value, f.Unit), lat(f.P50, f.P99),
			ref, lat(f.RefP50, f.RefP99), ratio, f.Target, met, f.Note)
	}
	tw.Flush()
}

func fmtValue(v float64, unit string) string {
	switch unit {
	case "s":
		return fmt.Sprintf("%.3f s", v)
	case "tps":
		return fmt.Sprintf("%.0f tps", v)
	case "pairs/s":
		return fmt.Sprintf("%.0f pairs/s", v)
	case "ms":
		return fmt.Sprintf("%.3f ms", v)
	case "MB":
		return fmt.Sprintf("%.0f MB", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

var cteName = regexp.MustCompile(`(\w+) AS \(`)

// tracer is a pgx query tracer that sums the time of each kind of statement,
// for -trace.
type tracer struct {
	mu    sync.Mutex
	stats map[string]*traceStat
}

type traceStat struct {
	n     int
	total time.Duration
}

// traceStart is what TraceQueryStart leaves for TraceQueryEnd.
type traceStart struct {
	sql string
	at  time.Time
}

type traceKey struct{}

func (t *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{sql: data.SQL, at: time.Now()})
}

func (t *tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	st, ok := ctx.Value(traceKey{}).(traceStart)
	if !ok {
		return
	}
	q := st.sql
	if len(q) > 2000 {
		q = q[:2000]
	}
	key := strings.Join(strings.Fields(q), " ")
	if i := strings.Index(key, " FROM creditledger_"); i >= 0 && strings.HasPrefix(key, "SELECT") {
		key = "SELECT ..." + key[i:]
	}
	if strings.HasPrefix(key, "WITH ") {
		// Apply: name it by its CTEs.
		var names []string
		for _, m := range cteName.FindAllStringSubmatch(key, -1) {
			names = append(names, m[1])
		}
		key = "Apply: WITH " + strings.Join(names, ", ")
	}
	if len(key) > 110 {
		key = key[:110]
	}
	d := time.Since(st.at)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats[key]
	if s == nil {
		s = &traceStat{}
		t.stats[key] = s
	}
	s.n++
	s.total += d
}

// dump prints the statements by total time and resets them.
func (t *tracer) dump(phase string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	type row struct {
		k string
		s *traceStat
	}
	var rows []row
	for k, s := range t.stats {
		rows = append(rows, row{k, s})
	}
	slices.SortFunc(rows, func(a, b row) int { return int(b.s.total - a.s.total) })
	fmt.Fprintf(os.Stderr, "statements of %s (wall time in the driver, summed over connections):\n", phase)
	for _, r := range rows {
		fmt.Fprintf(os.Stderr, "  %8.3fs %8d  %8.3fms/stmt  %s\n", r.s.total.Seconds(), r.s.n,
			float64(r.s.total.Microseconds())/1000/float64(r.s.n), r.k)
	}
	t.stats = map[string]*traceStat{}
}

// benchCatalog is the reference catalog, with -low-balance's threshold.
func benchCatalog(c *config) *policy.Catalog {
	cat := policy.ReferenceCatalog()
	if c.lowBalance > 0 {
		cat.LowBalance = map[string]decimal.Decimal{"": decimal.NewFromInt(int64(c.lowBalance))}
	}
	return cat
}
