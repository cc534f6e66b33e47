package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/mksaas/mksaastest"
	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// cliEnv, when set in the environment of this test binary, makes it the
// command itself: its value is the command line, arguments separated by
// newlines. The Citus test runs real processes of the command that way.
const cliEnv = "CREDITLEDGER_TEST_RUN_CLI"

func TestMain(m *testing.M) {
	if line, ok := os.LookupEnv(cliEnv); ok {
		os.Exit(run(context.Background(), strings.Split(line, "\n"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cliProcess starts the command with args as an OS process of its own.
func cliProcess(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), cliEnv+"="+strings.Join(args, "\n"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	return cmd, &out, &errb
}

// TestCitusDistributeProcesses is issue 24's "done when", on the Citus
// cluster of CITUS_DATABASE_URL: 20,000 accounts put on the free plan with
// SetPlans; three processes of `creditledger distribute` at once grant
// every account its month exactly once (the count of grant entries and the
// sum of balances are exact); 16 goroutines consuming and holding never
// overspend; `creditledger verify` is clean; and an entry cannot be
// changed on the worker holding it.
func TestCitusDistributeProcesses(t *testing.T) {
	t.Parallel()
	const (
		accounts = 20000
		monthly  = 50 // the reference catalog's free plan
	)
	ctx := context.Background()
	dsn := testdb.CitusDSN(t)
	store := testdb.Open(t, dsn)
	l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog()})
	require.NoError(t, err)
	ps := make([]ledger.PlanParams, accounts)
	for i := range ps {
		ps[i] = ledger.PlanParams{Account: fmt.Sprintf("user-%05d", i), Plan: "free"}
	}
	start := time.Now()
	require.NoError(t, l.SetPlans(ctx, ps))
	t.Logf("SetPlans of %d accounts on Citus: %s", accounts, time.Since(start))

	start = time.Now()
	var procs []*exec.Cmd
	var outs, errs []*bytes.Buffer
	for range 3 {
		cmd, out, errb := cliProcess(t, "distribute", "-db", dsn, "-json", "-progress", "none", "-chunk", "500")
		procs, outs, errs = append(procs, cmd), append(outs, out), append(errs, errb)
	}
	granted := 0
	for i, cmd := range procs {
		require.NoError(t, cmd.Wait(), "distribute process %d: %s", i, errs[i])
		var res distributeJSON
		require.NoError(t, json.Unmarshal(outs[i].Bytes(), &res), outs[i].String())
		require.Zero(t, res.Errors, "process %d", i)
		require.True(t, res.Complete, "process %d", i)
		t.Logf("distribute process %d: granted %d of %d accounts", i, res.Granted, res.Accounts)
		granted += res.Granted
	}
	t.Logf("three distribute processes on Citus: %s", time.Since(start))
	require.Equal(t, accounts, granted, "the processes together granted every account once")

	db := store.DB()
	var rows, balances, grants, grantedAccounts int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(balance), 0) FROM creditledger_accounts").Scan(&rows, &balances))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT account_id) FROM creditledger_entries WHERE kind = 'grant'").
		Scan(&grants, &grantedAccounts))
	require.EqualValues(t, accounts, rows)
	require.EqualValues(t, accounts*monthly, balances)
	require.EqualValues(t, accounts, grants)
	require.EqualValues(t, accounts, grantedAccounts)

	// 16 workers spend 1 credit at a time, by consumes and holds, on four
	// accounts of 50 credits: 80 attempts per account, exactly 50 succeed.
	const workers, attempts, hot = 16, 20, 4
	var mu sync.Mutex
	spent := map[string]int{}
	held := map[string]int{}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			account := fmt.Sprintf("user-%05d", w%hot)
			for i := range attempts {
				var err error
				if i%2 == 0 {
					_, err = l.Consume(ctx, ledger.ConsumeParams{Account: account, Amount: decimal.NewFromInt(1)})
				} else {
					_, err = l.Hold(ctx, ledger.HoldParams{Account: account, Amount: decimal.NewFromInt(1), TTL: time.Hour})
				}
				switch {
				case err == nil:
					mu.Lock()
					if i%2 == 0 {
						spent[account]++
					} else {
						held[account]++
					}
					mu.Unlock()
				case !errors.Is(err, ledger.ErrInsufficientCredits):
					errc <- fmt.Errorf("%s attempt %d: %w", account, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	for a := range hot {
		account := fmt.Sprintf("user-%05d", a)
		require.Equal(t, monthly, spent[account]+held[account], "%s: what succeeded is exactly what it had", account)
		bal, err := l.Balance(ctx, account)
		require.NoError(t, err)
		require.True(t, bal.Available.IsZero(), "%s available %s", account, bal.Available)
		require.Equal(t, fmt.Sprint(held[account]), bal.Held.String(), "%s held", account)
	}

	cmd, out, errb := cliProcess(t, "verify", "-db", dsn, "-json")
	require.NoError(t, cmd.Wait(), "verify: %s", errb)
	var rep struct {
		OK         bool     `json:"ok"`
		Accounts   int      `json:"accounts"`
		Entries    int      `json:"entries"`
		Violations []string `json:"violations"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.True(t, rep.OK, "violations: %v", rep.Violations)
	require.Equal(t, accounts, rep.Accounts)

	worker, shard := testdb.CitusShard(t, db.DB, "creditledger_entries", "user-00000")
	_, err = worker.ExecContext(ctx, "UPDATE "+shard+" SET amount = amount + 1 WHERE account_id = 'user-00000'")
	require.ErrorContains(t, err, "append-only")
}

// TestCitusImportMksaas imports a MkSaaS database into a distributed
// schema: the lots and plans land, a second import writes nothing, and the
// first distribution grants only the month MkSaaS had not granted.
func TestCitusImportMksaas(t *testing.T) {
	t.Parallel()
	dsn := testdb.CitusDSN(t)
	src := mksaastest.New(t)
	now := time.Now().UTC()
	wall := func(d time.Duration) time.Time { return mksaastest.Wall(now.Add(d), time.UTC) }
	expires := wall(30 * 24 * time.Hour)
	// yara: a yearly subscriber whose month MkSaaS granted an hour ago.
	src.Balance("yara", 700)
	src.Payment("p1", "yara", "price_y", "subscription", "year", "active", wall(-time.Hour), wall(-time.Hour))
	src.Tx("t1", "yara", "SUBSCRIPTION_RENEWAL", 1000, 700, &expires, wall(-time.Hour))
	// zeno: a pack, on the free plan.
	src.Balance("zeno", 80)
	src.Tx("t2", "zeno", "PURCHASE_PACKAGE", 100, 80, nil, wall(-48*time.Hour))

	args := []string{"import-mksaas", "-db", dsn, "-from", src.DSN, "-plan-map", "price_y=pro_yearly", "-json"}
	for i, want := range []int{2, 0} {
		r := runCmd(t, args...)
		require.Equal(t, exitOK, r.code, r.stderr)
		var rep importJSON
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
		require.Equal(t, want, rep.Written, "import %d", i+1)
		require.Equal(t, map[string]int{"pro_yearly": 1, "free": 1}, rep.Plans)
	}
	r := runCmd(t, "distribute", "-db", dsn, "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var res distributeJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Equal(t, 1, res.Granted, "zeno's free month; yara's month was granted by MkSaaS")
	for account, want := range map[string]string{"yara": "700", "zeno": "130"} {
		r = runCmd(t, "balance", "-db", dsn, "-json", account)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, `"available": "`+want+`"`, account)
	}
	r = runCmd(t, "verify", "-db", dsn)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
}
