package main

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// series returns the value of the Prometheus series named name whose
// labels include every label of want ("kind=\"distribute\""), summed over
// the series that match (0 when none does).
func series(t *testing.T, exposition, name string, want ...string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(exposition, -1) {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(m[1], w)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		require.NoError(t, err)
		sum += v
	}
	return sum
}

// TestMetricsAfterDistribution runs the cron job on a server whose
// database holds one due account, then reads the ledger's series from
// /metrics.
func TestMetricsAfterDistribution(t *testing.T) {
	t.Setenv("CRON_JOBS_USERNAME", cronUser)
	t.Setenv("CRON_JOBS_PASSWORD", cronPass)
	t.Setenv("CRON_JOBS_TOKEN", "")
	dsn := testdb.SQLitePath(t)
	// A host wrote a grant before the server started: the account is new
	// on the default plan, so the run owes it this month's 50.
	store := testdb.Open(t, dsn)
	l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog()})
	require.NoError(t, err)
	_, err = l.Grant(context.Background(), ledger.GrantParams{Account: "metrics-1", IdempotencyKey: "m-1", Amount: decimal.NewFromInt(5)})
	require.NoError(t, err)
	require.NoError(t, store.Close())

	srv := start(t, "-db", dsn, "-seed", "0")
	status, _, body := call(t, http.MethodGet, srv.base+"/healthz", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"status":"ok"}`, string(body))
	for _, path := range []string{"/healthz", "/metrics"} {
		status, h, body := call(t, http.MethodPost, srv.base+path, "")
		require.Equal(t, http.StatusMethodNotAllowed, status, "POST %s: %s", path, body)
		require.Equal(t, "GET, HEAD", h.Get("Allow"))
		code, _ := errorOf(t, body)
		require.Equal(t, "method_not_allowed", code)
	}

	status, _, body = call(t, http.MethodGet, srv.base+"/metrics", "")
	require.Equal(t, http.StatusOK, status)
	require.Zero(t, series(t, string(body), "creditledger_distribution_runs_total"), "no run yet:\n%s", body)
	// The counters of what has not happened yet are there at 0, for
	// dashboards and absence alerts.
	for _, name := range []string{"creditledger_credits_expired_total", "creditledger_credits_reversed_total",
		"creditledger_distribution_accounts_total", "creditledger_distribution_errors_total", "creditledger_distribution_runs_total"} {
		require.Regexp(t, `(?m)^`+name+`\{[^}]*\} 0$`, string(body), "%s at 0 before its first event", name)
	}

	out := callJSON(t, http.StatusOK, http.MethodPost, srv.base+"/api/distribute-credits", "", cronUser, cronPass)
	require.EqualValues(t, 1, out["grantedCount"])

	status, h, body := call(t, http.MethodGet, srv.base+"/metrics", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, h.Get("Content-Type"), "text/plain")
	exp := string(body)
	require.EqualValues(t, 1, series(t, exp, "creditledger_distribution_runs_total", `kind="distribute"`, `outcome="complete"`), exp)
	require.EqualValues(t, 1, series(t, exp, "creditledger_distribution_accounts_total", `kind="distribute"`), exp)
	require.EqualValues(t, 50, series(t, exp, "creditledger_credits_granted_total", `source="monthly_refresh"`), exp)
	require.GreaterOrEqual(t, series(t, exp, "creditledger_distribution_chunk_duration_seconds_count"), 1.0, exp)
	require.Zero(t, series(t, exp, "creditledger_distribution_errors_total"), exp)
	// The Go runtime's series are there too.
	require.Positive(t, series(t, exp, "go_goroutines"), exp)

	// A read is counted by kind and outcome, with its latency.
	callJSON(t, http.StatusOK, http.MethodGet, srv.base+"/api/accounts/metrics-1", "")
	_, _, body = call(t, http.MethodGet, srv.base+"/metrics", "")
	exp = string(body)
	require.EqualValues(t, 1, series(t, exp, "creditledger_operations_total", `kind="balance"`, `outcome="ok"`), exp)
	require.EqualValues(t, 1, series(t, exp, "creditledger_operation_duration_seconds_count", `kind="balance"`, `outcome="ok"`), exp)
	srv.stop()
}
