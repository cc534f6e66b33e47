package httpcron_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/ledger"
)

const (
	testUser  = "cron"
	testPass  = "s3cr:et:pass" // contains ':' on purpose
	testToken = "tok-0123456789abcdef"
)

func fixedResult() *ledger.DistributeResult {
	return &ledger.DistributeResult{
		Accounts:       321,
		Processed:      320,
		Errors:         1,
		Granted:        300,
		Expired:        12,
		GrantedCredits: decimal.RequireFromString("29500.5"),
		ExpiredCredits: decimal.RequireFromString("410"),
		Complete:       true,
		Duration:       6870 * time.Millisecond,
	}
}

// fakeRun returns the fixed result and counts its calls.
type fakeRun struct {
	calls atomic.Int32
	res   *ledger.DistributeResult
	err   error
}

func (f *fakeRun) Run(context.Context) (*ledger.DistributeResult, error) {
	f.calls.Add(1)
	return f.res, f.err
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newHandler(t testing.TB, mod func(*httpcron.Options)) (http.Handler, *fakeRun) {
	t.Helper()
	f := &fakeRun{res: fixedResult()}
	opts := &httpcron.Options{
		Username: testUser,
		Password: testPass,
		Run:      f.Run,
		Logger:   discardLogger(),
	}
	if mod != nil {
		mod(opts)
	}
	h, err := httpcron.NewHandler(opts)
	require.NoError(t, err)
	return h, f
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func serve(h http.Handler, method, auth string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/api/distribute-credits", body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// errorCodes are the codes that go with each message of an error body:
// the message where the reference system's schedulers read it, the code
// for programs.
var errorCodes = map[string]string{
	"unauthorized":       "unauthorized",
	"method not allowed": "method_not_allowed",
	"a distribution run is already in progress": "run_in_progress",
	"distribute credits failed":                 "run_failed",
}

// decodeError reads an error body, exactly {"error":MSG,"code":CODE} with
// the code that goes with the message, and returns the message.
func decodeError(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	var e map[string]string
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
	require.Len(t, e, 2, "error and code only: %s", rec.Body.String())
	want, ok := errorCodes[e["error"]]
	require.True(t, ok, "a known message: %s", rec.Body.String())
	require.Equal(t, want, e["code"], rec.Body.String())
	return e["error"]
}

func requireUnauthorized(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Equal(t, `Basic realm="Secure Area"`, rec.Header().Get("WWW-Authenticate"))
	require.Equal(t, "unauthorized", decodeError(t, rec))
	require.JSONEq(t, `{"error":"unauthorized","code":"unauthorized"}`, rec.Body.String())
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth string
	}{
		{"no header", ""},
		{"wrong user", basic("other", testPass)},
		{"wrong password", basic(testUser, "wrong")},
		{"password prefix only", basic(testUser, "s3cr")},
		{"password with extra suffix", basic(testUser, testPass+"x")},
		{"empty credentials", basic("", "")},
		{"malformed base64", "Basic !!!not-base64!!!"},
		{"base64 without colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+testPass))},
		{"scheme only", "Basic"},
		{"scheme and space only", "Basic "},
		{"other scheme", "Digest " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass))},
		{"no space after scheme", "Basic" + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass))},
		{"bearer not configured", "Bearer " + testToken},
		{"bearer empty not configured", "Bearer "},
		{"raw credentials not encoded", "Basic " + testUser + ":" + testPass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
				h, f := newHandler(t, nil)
				rec := serve(h, method, tc.auth, nil)
				requireUnauthorized(t, rec)
				require.Zero(t, f.calls.Load(), "Run must not be called")
			}
		})
	}
}

func TestSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		auth   string
		mod    func(*httpcron.Options)
	}{
		{"GET basic", http.MethodGet, basic(testUser, testPass), nil},
		{"POST basic", http.MethodPost, basic(testUser, testPass), nil},
		{"scheme case-insensitive", http.MethodGet,
			"bAsIc " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass)), nil},
		{"password with colons", http.MethodGet, basic("u", "a:b::c:"),
			func(o *httpcron.Options) { o.Username, o.Password = "u", "a:b::c:" }},
		{"bearer with basic configured", http.MethodGet, "Bearer " + testToken,
			func(o *httpcron.Options) { o.BearerToken = testToken }},
		{"basic with bearer configured", http.MethodGet, basic(testUser, testPass),
			func(o *httpcron.Options) { o.BearerToken = testToken }},
		{"bearer only", http.MethodPost, "bearer " + testToken,
			func(o *httpcron.Options) { o.Username, o.Password, o.BearerToken = "", "", testToken }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, f := newHandler(t, tc.mod)
			rec := serve(h, tc.method, tc.auth, nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			require.Empty(t, rec.Header().Get("WWW-Authenticate"))
			require.EqualValues(t, 1, f.calls.Load())

			var got httpcron.Response
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			require.Equal(t, httpcron.Response{
				Message:        "distribute credits success, users: 321, processed: 320, errors: 1",
				UsersCount:     321,
				ProcessedCount: 320,
				ErrorCount:     1,
				GrantedCount:   300,
				ExpiredCount:   12,
				GrantedCredits: "29500.5",
				ExpiredCredits: "410",
				Complete:       true,
				DurationMs:     6870,
			}, got)
			// The wire names are the documented ones (a superset of the
			// reference system's body).
			require.JSONEq(t, `{"message":"distribute credits success, users: 321, processed: 320, errors: 1",
				"usersCount":321,"processedCount":320,"errorCount":1,"grantedCount":300,"expiredCount":12,
				"grantedCredits":"29500.5","expiredCredits":"410","complete":true,"durationMs":6870}`,
				rec.Body.String())
		})
	}
}

func TestBearerOnlyRefusesBasic(t *testing.T) {
	t.Parallel()
	h, f := newHandler(t, func(o *httpcron.Options) {
		o.Username, o.Password, o.BearerToken = "", "", testToken
	})
	for _, auth := range []string{basic("", ""), basic(testUser, testPass), "Basic Og==", "Bearer wrong", "Bearer " + testToken + " "} {
		requireUnauthorized(t, serve(h, http.MethodGet, auth, nil))
	}
	require.Zero(t, f.calls.Load())
}

func TestIncompleteRun(t *testing.T) {
	t.Parallel()
	h, f := newHandler(t, nil)
	f.res = &ledger.DistributeResult{Accounts: 1000, Processed: 1000, Complete: false, Duration: 25 * time.Second}
	rec := serve(h, http.MethodGet, basic(testUser, testPass), nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var got httpcron.Response
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.False(t, got.Complete)
	require.EqualValues(t, 25000, got.DurationMs)
	require.Equal(t, "0", got.GrantedCredits)
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			h, f := newHandler(t, nil)
			rec := serve(h, method, basic(testUser, testPass), nil)
			require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
			require.Equal(t, "GET, POST", rec.Header().Get("Allow"))
			require.Equal(t, "method not allowed", decodeError(t, rec))
			require.Zero(t, f.calls.Load())
		})
	}
}

func TestRunError(t *testing.T) {
	t.Parallel()
	const detail = "pq: connection refused to db.internal:5432"
	tests := []struct {
		name string
		res  *ledger.DistributeResult
		err  error
	}{
		{"error", nil, errors.New(detail)},
		{"error with result", fixedResult(), errors.New(detail)},
		{"nil result nil error", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			h, f := newHandler(t, func(o *httpcron.Options) {
				o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			})
			f.res, f.err = tc.res, tc.err
			rec := serve(h, http.MethodGet, basic(testUser, testPass), nil)
			require.Equal(t, http.StatusInternalServerError, rec.Code)
			require.Equal(t, "distribute credits failed", decodeError(t, rec))
			require.NotContains(t, rec.Body.String(), "pq:")
			require.NotContains(t, rec.Body.String(), "db.internal")
			require.Contains(t, logs.String(), `"level":"ERROR"`)
			if tc.err != nil {
				require.Contains(t, logs.String(), detail)
			}
		})
	}
}

func TestRunPanicReleases(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	h, _ := newHandler(t, func(o *httpcron.Options) {
		o.Run = func(context.Context) (*ledger.DistributeResult, error) {
			if n.Add(1) == 1 {
				panic("boom")
			}
			return fixedResult(), nil
		}
	})
	rec := serve(h, http.MethodGet, basic(testUser, testPass), nil)
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	rec = serve(h, http.MethodGet, basic(testUser, testPass), nil)
	require.Equal(t, http.StatusOK, rec.Code, "the in-progress flag is released after a panic")
}

func TestConcurrentRunConflict(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	h, _ := newHandler(t, func(o *httpcron.Options) {
		o.Run = func(ctx context.Context) (*ledger.DistributeResult, error) {
			if calls.Add(1) == 1 {
				close(started)
				<-release
			}
			return fixedResult(), nil
		}
	})

	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- serve(h, http.MethodGet, basic(testUser, testPass), nil) }()
	<-started

	// While the first run blocks, every further request is refused at once.
	for range 3 {
		rec := serve(h, http.MethodPost, basic(testUser, testPass), nil)
		require.Equal(t, http.StatusConflict, rec.Code)
		require.Equal(t, "a distribution run is already in progress", decodeError(t, rec))
	}
	// Unauthenticated requests still get 401, not 409.
	requireUnauthorized(t, serve(h, http.MethodGet, "", nil))
	require.EqualValues(t, 1, calls.Load())

	close(release)
	require.Equal(t, http.StatusOK, (<-first).Code)

	// The flag is released: the next request runs.
	rec := serve(h, http.MethodGet, basic(testUser, testPass), nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.EqualValues(t, 2, calls.Load())
}

func TestSeparateHandlersDoNotConflict(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	block := func(ctx context.Context) (*ledger.DistributeResult, error) {
		close(started)
		<-release
		return fixedResult(), nil
	}
	h1, _ := newHandler(t, func(o *httpcron.Options) { o.Run = block })
	h2, _ := newHandler(t, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		serve(h1, http.MethodGet, basic(testUser, testPass), nil)
	}()
	<-started
	require.Equal(t, http.StatusOK, serve(h2, http.MethodGet, basic(testUser, testPass), nil).Code)
	close(release)
	wg.Wait()
}

func TestBudgetDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		budget time.Duration
		want   time.Duration
	}{
		{"default", 0, httpcron.DefaultBudget},
		{"custom", 3 * time.Second, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				deadline time.Time
				hasDL    bool
			)
			h, _ := newHandler(t, func(o *httpcron.Options) {
				o.Budget = tc.budget
				o.Run = func(ctx context.Context) (*ledger.DistributeResult, error) {
					deadline, hasDL = ctx.Deadline()
					return fixedResult(), nil
				}
			})
			before := time.Now()
			rec := serve(h, http.MethodGet, basic(testUser, testPass), nil)
			after := time.Now()
			require.Equal(t, http.StatusOK, rec.Code)
			require.True(t, hasDL, "Run's context must have a deadline")
			require.False(t, deadline.After(after.Add(tc.want)), "deadline %v beyond now+budget", deadline)
			require.False(t, deadline.Before(before.Add(tc.want)), "deadline %v well before now+budget", deadline)
		})
	}
}

func TestRunContextCancelledWithRequest(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var runErr error
	h, _ := newHandler(t, func(o *httpcron.Options) {
		o.Run = func(ctx context.Context) (*ledger.DistributeResult, error) {
			runErr = ctx.Err()
			return fixedResult(), nil
		}
	})
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	req.Header.Set("Authorization", basic(testUser, testPass))
	h.ServeHTTP(httptest.NewRecorder(), req)
	require.ErrorIs(t, runErr, context.Canceled)
}

// countingReader is an endless body that counts the bytes handed out.
type countingReader struct{ n atomic.Int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}

func TestBodyNotReadPastLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		limit int64
		want  int64
	}{
		{"default", 0, httpcron.DefaultMaxBodyBytes},
		{"custom", 100, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := newHandler(t, func(o *httpcron.Options) { o.MaxBodyBytes = tc.limit })
			body := &countingReader{}
			rec := serve(h, http.MethodPost, basic(testUser, testPass), body)
			require.Equal(t, http.StatusOK, rec.Code)
			require.LessOrEqual(t, body.n.Load(), tc.want)

			// Unauthenticated: the body is not read at all.
			body = &countingReader{}
			requireUnauthorized(t, serve(h, http.MethodPost, "", body))
			require.Zero(t, body.n.Load())
		})
	}
}

func TestSmallBodyIgnored(t *testing.T) {
	t.Parallel()
	h, f := newHandler(t, nil)
	rec := serve(h, http.MethodPost, basic(testUser, testPass), strings.NewReader(`{"anything":true}`))
	require.Equal(t, http.StatusOK, rec.Code)
	require.EqualValues(t, 1, f.calls.Load())
}

func TestNewHandlerErrors(t *testing.T) {
	t.Parallel()
	run := (&fakeRun{res: fixedResult()}).Run
	tests := []struct {
		name string
		opts *httpcron.Options
		want error
	}{
		{"nil options", nil, httpcron.ErrNoCredentials},
		{"empty", &httpcron.Options{Run: run}, httpcron.ErrNoCredentials},
		{"user without password", &httpcron.Options{Username: "u", Run: run}, httpcron.ErrNoCredentials},
		{"password without user", &httpcron.Options{Password: "p", Run: run}, httpcron.ErrNoCredentials},
		{"user without password, token set", &httpcron.Options{Username: "u", BearerToken: "t", Run: run}, httpcron.ErrNoCredentials},
		{"nil run", &httpcron.Options{Username: "u", Password: "p"}, httpcron.ErrInvalidOptions},
		{"username with colon", &httpcron.Options{Username: "u:x", Password: "p", Run: run}, httpcron.ErrInvalidOptions},
		{"negative budget", &httpcron.Options{Username: "u", Password: "p", Run: run, Budget: -time.Second}, httpcron.ErrInvalidOptions},
		{"negative body limit", &httpcron.Options{Username: "u", Password: "p", Run: run, MaxBodyBytes: -1}, httpcron.ErrInvalidOptions},
		{"realm with newline", &httpcron.Options{Username: "u", Password: "p", Run: run, Realm: "a\r\nX-Evil: 1"}, httpcron.ErrInvalidOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := httpcron.NewHandler(tc.opts)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, h)
		})
	}

	for _, opts := range []*httpcron.Options{
		{Username: "u", Password: "p", Run: run},
		{BearerToken: "t", Run: run},
		{Username: "u", Password: "p", BearerToken: "t", Run: run},
	} {
		h, err := httpcron.NewHandler(opts)
		require.NoError(t, err)
		require.NotNil(t, h)
	}
}

func TestCustomRealm(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, func(o *httpcron.Options) { o.Realm = `cron "jobs"` })
	rec := serve(h, http.MethodGet, "", nil)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Equal(t, `Basic realm="cron \"jobs\""`, rec.Header().Get("WWW-Authenticate"))
}

func TestOptionsFromEnv(t *testing.T) {
	// Not parallel: t.Setenv.
	t.Setenv(httpcron.EnvUsername, "envuser")
	t.Setenv(httpcron.EnvPassword, "env:pass")
	t.Setenv(httpcron.EnvToken, "envtoken")
	opts := httpcron.OptionsFromEnv()
	require.Equal(t, "envuser", opts.Username)
	require.Equal(t, "env:pass", opts.Password)
	require.Equal(t, "envtoken", opts.BearerToken)
	require.Nil(t, opts.Run)

	f := &fakeRun{res: fixedResult()}
	opts.Run = f.Run
	opts.Logger = discardLogger()
	h, err := httpcron.NewHandler(opts)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, serve(h, http.MethodGet, basic("envuser", "env:pass"), nil).Code)
	require.Equal(t, http.StatusOK, serve(h, http.MethodGet, "Bearer envtoken", nil).Code)
}

func TestOptionsFromEnvUnsetFailsClosed(t *testing.T) {
	t.Setenv(httpcron.EnvUsername, "")
	t.Setenv(httpcron.EnvPassword, "")
	t.Setenv(httpcron.EnvToken, "")
	opts := httpcron.OptionsFromEnv()
	opts.Run = (&fakeRun{res: fixedResult()}).Run
	_, err := httpcron.NewHandler(opts)
	require.ErrorIs(t, err, httpcron.ErrNoCredentials)
}

func TestLogsHoldNoCredentials(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	f := &fakeRun{res: fixedResult()}
	h, err := httpcron.NewHandler(&httpcron.Options{
		Username:    testUser,
		Password:    testPass,
		BearerToken: testToken,
		Run:         f.Run,
		Logger:      slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)

	good := basic(testUser, testPass)
	wrong := basic(testUser, testPass+"-typo")
	require.Equal(t, http.StatusOK, serve(h, http.MethodGet, good, nil).Code)
	require.Equal(t, http.StatusOK, serve(h, http.MethodGet, "Bearer "+testToken, nil).Code)
	require.Equal(t, http.StatusUnauthorized, serve(h, http.MethodGet, wrong, nil).Code)
	require.Equal(t, http.StatusUnauthorized, serve(h, http.MethodGet, "Bearer "+testToken+"x", nil).Code)
	f.err = errors.New("database down")
	require.Equal(t, http.StatusInternalServerError, serve(h, http.MethodGet, good, nil).Code)

	out := logs.String()
	for _, secret := range []string{
		testPass, "s3cr", testToken,
		strings.TrimPrefix(good, "Basic "), strings.TrimPrefix(wrong, "Basic "),
		"Authorization", "authorization",
	} {
		require.NotContains(t, out, secret)
	}

	// The run is logged at Info with its counts and duration.
	var sawInfo bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["level"] == "INFO" {
			sawInfo = true
			require.EqualValues(t, 321, rec["accounts"])
			require.EqualValues(t, 320, rec["processed"])
			require.EqualValues(t, 1, rec["errors"])
			require.EqualValues(t, 300, rec["granted"])
			require.EqualValues(t, 12, rec["expired"])
			require.Equal(t, "29500.5", rec["granted_credits"])
			require.Equal(t, true, rec["complete"])
			require.EqualValues(t, (6870 * time.Millisecond).Nanoseconds(), rec["duration"])
		}
	}
	require.True(t, sawInfo)
	require.Contains(t, out, "database down")
}

func TestZeroDurationUsesElapsed(t *testing.T) {
	t.Parallel()
	h, f := newHandler(t, nil)
	f.res = &ledger.DistributeResult{Complete: true}
	rec := serve(h, http.MethodGet, basic(testUser, testPass), nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var got httpcron.Response
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.GreaterOrEqual(t, got.DurationMs, int64(0))
	require.Equal(t, "distribute credits success, users: 0, processed: 0, errors: 0", got.Message)
}

func TestOverRealServer(t *testing.T) {
	t.Parallel()
	h, f := newHandler(t, nil)
	mux := http.NewServeMux()
	mux.Handle("/api/distribute-credits", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	do := func(method, user, pass string, body io.Reader) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+"/api/distribute-credits", body)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}

	resp := do(http.MethodGet, testUser, testPass, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got httpcron.Response
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, 321, got.UsersCount)

	resp = do(http.MethodGet, testUser, "nope", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, `Basic realm="Secure Area"`, resp.Header.Get("WWW-Authenticate"))

	// A body past the limit: the handler reads at most its limit and answers.
	resp = do(http.MethodPost, testUser, testPass, bytes.NewReader(make([]byte, 64<<10)))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.EqualValues(t, 2, f.calls.Load())
}
