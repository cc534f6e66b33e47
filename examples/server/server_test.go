package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/storage/bunstore"
)

const (
	cronUser   = "cron-e2e"
	cronPass   = "s3cret:with-colon" // a ':' in the password must work
	adminToken = "admin-e2e-token-0123456789"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a server started in-process by run().
type testServer struct {
	base   string      // http://127.0.0.1:PORT
	stdout *syncBuffer // all of it, once stopped
	stderr *syncBuffer
	stop   func() // cancels run and waits for it to return nil
}

// start runs the server with args (plus -addr 127.0.0.1:0) until stop is
// called or the test ends, and returns once it listens.
func start(t *testing.T, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	ts := &testServer{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, ts.stderr)
		_ = pw.Close()
		done <- err
	}()
	// Read stdout line by line until the listening line, then keep
	// draining it so that the server never blocks on a write.
	addr := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			_, _ = ts.stdout.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				addr <- u
			}
		}
	}()
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err, "run returned an error; stderr:\n%s", ts.stderr)
			case <-time.After(time.Minute):
				t.Fatalf("run did not return after its context was cancelled")
			}
			<-drained
		})
	}
	t.Cleanup(ts.stop)
	select {
	case ts.base = <-addr:
	case err := <-done:
		t.Fatalf("run returned before listening: %v\nstderr:\n%s", err, ts.stderr)
	case <-time.After(time.Minute):
		t.Fatalf("no listening line within a minute; stderr:\n%s", ts.stderr)
	}
	require.Regexp(t, `^http://127\.0\.0\.1:[0-9]+$`, ts.base)
	return ts
}

var client = &http.Client{Timeout: 30 * time.Second}

// call sends a request and returns the status, headers and body. auth is
// nothing, a bearer token, or a user and password for Basic auth.
func call(t *testing.T, method, url, body string, auth ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	switch len(auth) {
	case 1:
		req.Header.Set("Authorization", "Bearer "+auth[0])
	case 2:
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// callJSON is call for a JSON answer with the wanted status, decoded.
func callJSON(t *testing.T, want int, method, url, body string, auth ...string) map[string]any {
	t.Helper()
	status, h, b := call(t, method, url, body, auth...)
	require.Equal(t, want, status, "%s %s %s: %s", method, url, body, b)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	if want >= 400 {
		code, msg := errorOf(t, b)
		require.NotEmpty(t, code, "an error answer has a code: %s", b)
		require.NotEmpty(t, msg, "an error answer says why: %s", b)
	}
	return out
}

// errorOf decodes an error answer, strictly {"error":{"code":...,"message":...}},
// and checks that its message shows no internals.
func errorOf(t *testing.T, b []byte) (code, message string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&e), "the error shape: %s", b)
	require.Regexp(t, `^[a-z_]+$`, e.Error.Code, "%s", b)
	for _, internal := range []string{"bunstore", "creditledger: ", "main.", "json:", "sql", "pgx", "Go ", "struct", "*"} {
		require.NotContains(t, e.Error.Message, internal, "no internals in an error message: %s", b)
	}
	return e.Error.Code, e.Error.Message
}

// callError sends a request that must fail with status and code, and
// returns the message.
func callError(t *testing.T, status int, code, method, url, body string, auth ...string) string {
	t.Helper()
	got, h, b := call(t, method, url, body, auth...)
	require.Equal(t, status, got, "%s %s %.200s: %s", method, url, body, b)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	gotCode, msg := errorOf(t, b)
	require.Equal(t, code, gotCode, "%s %s %.200s: %s", method, url, body, b)
	return msg
}

func cronRun(t *testing.T, base string) httpcron.Response {
	t.Helper()
	status, h, b := call(t, http.MethodGet, base+"/api/distribute-credits", "", cronUser, cronPass)
	require.Equal(t, http.StatusOK, status, "%s", b)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // the documented shape, nothing else
	var res httpcron.Response
	require.NoError(t, dec.Decode(&res), "%s", b)
	return res
}

func available(t *testing.T, base, account string) string {
	t.Helper()
	out := callJSON(t, http.StatusOK, http.MethodGet, base+"/api/accounts/"+account, "")
	return out["available"].(string) // a string: amounts never travel as JSON numbers
}

func entryCount(t *testing.T, base, account string) int {
	t.Helper()
	out := callJSON(t, http.StatusOK, http.MethodGet, base+"/api/accounts/"+account+"/entries?limit=1000", "")
	return len(out["entries"].([]any))
}

func TestServerEndToEnd(t *testing.T) {
	t.Setenv("CREDITLEDGER_ADMIN_TOKEN", adminToken)
	t.Setenv("CRON_JOBS_USERNAME", cronUser)
	t.Setenv("CRON_JOBS_PASSWORD", cronPass)
	t.Setenv("CRON_JOBS_TOKEN", "")
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			var dsn string
			if kind == "sqlite" {
				dsn = testdb.SQLitePath(t)
			} else {
				dsn = testdb.PostgresDSN(t)
			}
			testEndToEnd(t, dsn)
		})
	}
}

func testEndToEnd(t *testing.T, dsn string) {
	srv := start(t, "-db", dsn)
	base := srv.base
	cron := base + "/api/distribute-credits"

	// The cron endpoint refuses missing and wrong credentials.
	for _, auth := range [][]string{nil, {cronUser, "wrong"}, {"wrong", cronPass}} {
		status, h, b := call(t, http.MethodGet, cron, "", auth...)
		require.Equal(t, http.StatusUnauthorized, status, "%v: %s", auth, b)
		require.Contains(t, h.Get("WWW-Authenticate"), "Basic realm=")
	}

	// A new account, made by a grant, is on the default (free) plan: the
	// first run owes it this month's credits.
	grant := `{"amount":"5","idempotencyKey":"e2e-grant-1","source":"e2e","expiresInDays":30}`
	out := callJSON(t, http.StatusOK, http.MethodPost, base+"/api/accounts/e2e-new/grant", grant, adminToken)
	require.Equal(t, false, out["replayed"])
	require.Equal(t, "5", out["balance"])
	out = callJSON(t, http.StatusOK, http.MethodPost, base+"/api/accounts/e2e-new/grant", grant, adminToken)
	require.Equal(t, true, out["replayed"], "the same key and body replay")
	require.Equal(t, "5", out["balance"])

	first := cronRun(t, base)
	require.True(t, first.Complete)
	require.GreaterOrEqual(t, first.UsersCount, 1)
	require.Equal(t, first.UsersCount, first.ProcessedCount)
	require.Zero(t, first.ErrorCount)
	require.Equal(t, 1, first.GrantedCount, "the free plan's credits for e2e-new")
	require.Equal(t, "50", first.GrantedCredits)
	require.Equal(t, "distribute credits success, users: "+strconv.Itoa(first.UsersCount)+", processed: "+
		strconv.Itoa(first.ProcessedCount)+", errors: 0", first.Message)
	require.Equal(t, "55", available(t, base, "e2e-new"))

	second := cronRun(t, base)
	require.True(t, second.Complete)
	require.Zero(t, second.GrantedCount, "a second run in the same period grants nothing")
	require.Zero(t, second.ErrorCount)
	require.Equal(t, "55", available(t, base, "e2e-new"))

	// Seeded accounts (policy.ReferenceCatalog): the signup gift (50) and
	// the free plan's month (50); the first account of each plan also
	// bought a basic pack (100).
	bal := callJSON(t, http.StatusOK, http.MethodGet, base+"/api/accounts/demo-free-1", "")
	require.Equal(t, "demo-free-1", bal["account"])
	require.Equal(t, "free", bal["plan"])
	require.Equal(t, "200", bal["available"])
	lots := bal["lots"].([]any)
	require.Len(t, lots, 3)
	for _, l := range lots {
		lot := l.(map[string]any)
		for _, k := range []string{"id", "source", "amount", "remaining", "expiresAt", "createdAt", "priority"} {
			require.Contains(t, lot, k)
		}
		require.IsType(t, "", lot["remaining"])
	}
	require.Equal(t, "100", available(t, base, "demo-free-2"))
	require.Equal(t, "1050", available(t, base, "demo-pro_yearly-2"))
	require.Equal(t, "1150", available(t, base, "demo-lifetime-1"))

	// A consume lowers the balance by exactly its amount.
	consume := base + "/api/accounts/demo-free-2/consume"
	out = callJSON(t, http.StatusOK, http.MethodPost, consume,
		`{"amount":"10","idempotencyKey":"e2e-consume-1","description":"one AI call"}`, adminToken)
	require.Equal(t, "90", out["balance"])
	require.Equal(t, false, out["replayed"])
	require.Equal(t, "90", available(t, base, "demo-free-2"))
	entries := entryCount(t, base, "demo-free-2")

	// Bad requests: a 4xx JSON error each with its code, and nothing written.
	bad := []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed JSON", `{"amount":"10"`, http.StatusBadRequest, "invalid_json"},
		{"not an object", `"10"`, http.StatusBadRequest, "invalid_json"},
		{"empty body", ``, http.StatusBadRequest, "invalid_json"},
		{"unknown field", `{"amount":"10","amuont":"10"}`, http.StatusBadRequest, "invalid_json"},
		{"wrong type", `{"amount":"10","description":7}`, http.StatusBadRequest, "invalid_json"},
		{"amount not a number", `{"amount":"ten"}`, http.StatusBadRequest, "invalid_amount"},
		{"amount a bool", `{"amount":true}`, http.StatusBadRequest, "invalid_amount"},
		{"amount missing", `{"description":"x"}`, http.StatusBadRequest, "invalid_amount"},
		{"amount with decimals at scale 0", `{"amount":"10.5"}`, http.StatusBadRequest, "invalid_amount"},
		{"amount negative", `{"amount":"-10"}`, http.StatusBadRequest, "invalid_amount"},
		{"amount zero", `{"amount":0}`, http.StatusBadRequest, "invalid_amount"},
		{"amount huge", `{"amount":"1e999999999"}`, http.StatusBadRequest, "invalid_amount"},
		{"two objects", `{"amount":"1"}{"amount":"1"}`, http.StatusBadRequest, "invalid_json"},
		{"trailing garbage", `{"amount":"1"} x`, http.StatusBadRequest, "invalid_json"},
		{"reserved key", `{"amount":"1","idempotencyKey":"creditledger:x"}`, http.StatusBadRequest, "invalid_argument"},
		{"oversized", `{"amount":"1","description":"` + strings.Repeat("x", 70<<10) + `"}`, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"insufficient", `{"amount":"91"}`, http.StatusPaymentRequired, "insufficient_credits"},
		{"key reused with another amount", `{"amount":"11","idempotencyKey":"e2e-consume-1","description":"one AI call"}`, http.StatusConflict, "idempotency_conflict"},
	}
	for _, tc := range bad {
		callError(t, tc.status, tc.code, http.MethodPost, consume, tc.body, adminToken)
	}
	require.Equal(t, "90", available(t, base, "demo-free-2"), "no bad request spent anything")
	require.Equal(t, entries, entryCount(t, base, "demo-free-2"), "no bad request wrote an entry")

	// The idempotent retry of the consume spends nothing more.
	out = callJSON(t, http.StatusOK, http.MethodPost, consume,
		`{"amount":"10","idempotencyKey":"e2e-consume-1","description":"one AI call"}`, adminToken)
	require.Equal(t, true, out["replayed"])
	require.Equal(t, "90", available(t, base, "demo-free-2"))

	// Unknown accounts: 404 on every read; a consume has no credits to spend.
	callError(t, http.StatusNotFound, "account_not_found", http.MethodGet, base+"/api/accounts/nobody", "")
	callError(t, http.StatusNotFound, "account_not_found", http.MethodGet, base+"/api/accounts/nobody/entries", "")
	callError(t, http.StatusPaymentRequired, "insufficient_credits", http.MethodPost, base+"/api/accounts/nobody/consume", `{"amount":"1"}`, adminToken)

	// Plans: unknown is 400; a known one answers the new balance (the
	// pro_yearly month, 1000, on top; no second signup gift).
	plan := base + "/api/accounts/demo-free-3/plan"
	callError(t, http.StatusBadRequest, "unknown_plan", http.MethodPut, plan, `{"plan":"platinum"}`, adminToken)
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPut, plan, `{}`, adminToken)
	require.Equal(t, "100", available(t, base, "demo-free-3"))
	out = callJSON(t, http.StatusOK, http.MethodPut, plan, `{"plan":"pro_yearly"}`, adminToken)
	require.Equal(t, "pro_yearly", out["plan"])
	require.Equal(t, "1100", out["available"])

	// Pack grants.
	grants := base + "/api/accounts/demo-free-3/grant"
	out = callJSON(t, http.StatusOK, http.MethodPost, grants, `{"pack":"standard","idempotencyKey":"inv-1"}`, adminToken)
	require.Equal(t, "1300", out["balance"])
	callError(t, http.StatusConflict, "idempotency_conflict", http.MethodPost, grants, `{"pack":"basic","idempotencyKey":"inv-1"}`, adminToken)
	callError(t, http.StatusBadRequest, "unknown_pack", http.MethodPost, grants, `{"pack":"gold","idempotencyKey":"inv-2"}`, adminToken)
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, grants, `{"pack":"basic","amount":"5","idempotencyKey":"inv-3"}`, adminToken)
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, grants, `{"amount":"5"}`, adminToken) // no key
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, grants, `{"amount":"5","idempotencyKey":"g","expiresInDays":0}`, adminToken)
	require.Equal(t, "1300", available(t, base, "demo-free-3"))

	// Routing answers JSON too.
	status, h, _ := call(t, http.MethodDelete, base+"/api/accounts/demo-free-1", "")
	require.Equal(t, http.StatusMethodNotAllowed, status)
	require.Equal(t, "GET, HEAD", h.Get("Allow"))
	callError(t, http.StatusNotFound, "route_not_found", http.MethodGet, base+"/api/nothing", "")
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodGet, base+"/api/accounts/demo-free-1/entries?limit=x", "")

	// The HTML page lists the accounts, escaped.
	callJSON(t, http.StatusOK, http.MethodPost, base+"/api/accounts/%3Cb%3Ex/grant", `{"amount":"1","idempotencyKey":"html"}`, adminToken)
	status, h, page := call(t, http.MethodGet, base+"/", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	require.Contains(t, string(page), "demo-free-1")
	require.Contains(t, string(page), "&lt;b&gt;x")
	require.NotContains(t, string(page), "<b>x")
	require.Contains(t, string(page), "/api/distribute-credits")

	srv.stop()
	require.NotContains(t, srv.stderr.String(), cronPass, "the password is never logged")
	require.NotContains(t, srv.stderr.String(), "DEMO", "no demo credentials when the env sets them")
	require.NotContains(t, srv.stderr.String(), "ADMIN token", "no admin token printed when the env sets it")
	require.NotContains(t, srv.stderr.String(), adminToken, "the admin token is never logged")
	require.Regexp(t, `method=GET path=/api/accounts/demo-free-1 status=200 duration=`, srv.stderr.String())

	// A restart seeds nothing new and finds everything as it was.
	again := start(t, "-db", dsn)
	require.Equal(t, "90", available(t, again.base, "demo-free-2"))
	require.Equal(t, "1300", available(t, again.base, "demo-free-3"))
	again.stop()
	require.Contains(t, again.stderr.String(), "demo accounts already seeded")

	// And the ledger's invariants hold.
	var stdout bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-db", dsn, "-verify"}, &stdout, io.Discard))
	require.Contains(t, stdout.String(), " 0 violations")
}

func TestDemoCredentials(t *testing.T) {
	t.Setenv("CRON_JOBS_USERNAME", "")
	t.Setenv("CRON_JOBS_PASSWORD", "")
	t.Setenv("CRON_JOBS_TOKEN", "")
	t.Setenv("CREDITLEDGER_ADMIN_TOKEN", " ") // blank counts as unset
	srv := start(t, "-db", testdb.SQLitePath(t), "-seed", "0")
	logs := srv.stderr.String()

	// The admin token: printed with the cron credentials, random, and the
	// one the routes that write accept.
	require.Contains(t, logs, "ADMIN token")
	tok := regexp.MustCompile(`(?m)^  token: (\S+)$`).FindStringSubmatch(logs)
	require.Len(t, tok, 2, logs)
	require.GreaterOrEqual(t, len(tok[1]), 32, "a random token of 24 bytes")
	grant := srv.base + "/api/accounts/demo-admin/grant"
	body := `{"amount":"5","idempotencyKey":"k1"}`
	callError(t, http.StatusUnauthorized, "unauthorized", http.MethodPost, grant, body)
	callError(t, http.StatusUnauthorized, "unauthorized", http.MethodPost, grant, body, " ")
	out := callJSON(t, http.StatusOK, http.MethodPost, grant, body, tok[1])
	require.Equal(t, "5", out["balance"])
	again := start(t, "-db", testdb.SQLitePath(t), "-seed", "0")
	tok2 := regexp.MustCompile(`(?m)^  token: (\S+)$`).FindStringSubmatch(again.stderr.String())
	require.Len(t, tok2, 2)
	require.NotEqual(t, tok[1], tok2[1], "a new token at every start")
	callError(t, http.StatusUnauthorized, "unauthorized", http.MethodPost, again.base+"/api/accounts/demo-admin/grant", body, tok[1])
	again.stop()
	require.Contains(t, logs, "DEMO credentials")
	user := regexp.MustCompile(`(?m)^  username: (\S+)$`).FindStringSubmatch(logs)
	pass := regexp.MustCompile(`(?m)^  password: (\S+)$`).FindStringSubmatch(logs)
	require.Len(t, user, 2, logs)
	require.Len(t, pass, 2, logs)
	require.GreaterOrEqual(t, len(pass[1]), 20, "a random password of 18 bytes")

	status, _, _ := call(t, http.MethodGet, srv.base+"/api/distribute-credits", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _, b := call(t, http.MethodPost, srv.base+"/api/distribute-credits", "", user[1], pass[1])
	require.Equal(t, http.StatusOK, status, "%s", b)

	srv.stop()
	// Printed once, in the DEMO and ADMIN blocks (two lines each: the
	// secret and the export line), and in no log line.
	for _, line := range strings.Split(srv.stderr.String(), "\n") {
		if strings.Contains(line, pass[1]) {
			require.True(t, strings.HasPrefix(line, "  password: ") || strings.HasPrefix(line, "  export CRON_JOBS_USERNAME="), line)
		}
		if strings.Contains(line, tok[1]) {
			require.True(t, strings.HasPrefix(line, "  token: ") || strings.HasPrefix(line, "  export CREDITLEDGER_ADMIN_TOKEN="), line)
		}
	}

	// The export lines, pasted into a shell, set what the README's
	// commands read: every variable of theirs.
	exports := regexp.MustCompile(`(?m)^  (export .*)$`).FindAllStringSubmatch(logs, -1)
	require.Len(t, exports, 2, logs)
	script := exports[0][1] + "\n" + exports[1][1] + "\n" +
		`printf '%s|%s|%s' "$CRON_JOBS_USERNAME" "$CRON_JOBS_PASSWORD" "$CREDITLEDGER_ADMIN_TOKEN"`
	got, err := exec.Command("sh", "-c", script).Output()
	require.NoError(t, err)
	require.Equal(t, user[1]+"|"+pass[1]+"|"+tok[1], string(got))
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if !strings.Contains(block[1], "127.0.0.1:8080") {
			continue
		}
		for _, v := range regexp.MustCompile(`\$\{?([A-Z_]+)`).FindAllStringSubmatch(block[1], -1) {
			require.Regexp(t, `(?m)^export (.* )?`+v[1]+`=`, script, "the README's server commands use $%s, which the printout exports", v[1])
		}
	}
}

func TestVerifyFindsViolations(t *testing.T) {
	dsn := testdb.SQLitePath(t)
	var stdout bytes.Buffer
	// -verify on a fresh database: clean (and it seeds nothing).
	require.NoError(t, run(context.Background(), []string{"-db", dsn, "-verify"}, &stdout, io.Discard))
	require.Contains(t, stdout.String(), "verified 0 accounts")

	t.Setenv("CRON_JOBS_USERNAME", cronUser)
	t.Setenv("CRON_JOBS_PASSWORD", cronPass)
	start(t, "-db", dsn, "-seed", "1").stop()

	// Tamper with a lot behind the ledger's back.
	store, err := bunstore.Open(context.Background(), dsn)
	require.NoError(t, err)
	_, err = store.DB().ExecContext(context.Background(),
		"UPDATE creditledger_lots SET remaining = remaining - 1 WHERE id = (SELECT MIN(id) FROM creditledger_lots)")
	require.NoError(t, err)
	require.NoError(t, store.Close())

	stdout.Reset()
	err = run(context.Background(), []string{"-db", dsn, "-verify"}, &stdout, io.Discard)
	require.True(t, errors.Is(err, errViolations), "%v", err)
	require.Contains(t, stdout.String(), "account \"demo-")
	require.NotContains(t, stdout.String(), " 0 violations")
}

func TestBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-seed", "-1"}, io.Discard, &stderr)
	var ue *usageError
	require.ErrorAs(t, err, &ue)
	err = run(context.Background(), []string{"extra"}, io.Discard, &stderr)
	require.ErrorAs(t, err, &ue)

	// A SQLite file in a folder that does not exist: the folder is named.
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	err = run(context.Background(), []string{"-db", filepath.Join(missing, "x.db")}, io.Discard, &stderr)
	require.ErrorContains(t, err, `folder "`+missing+`" does not exist`)
}
