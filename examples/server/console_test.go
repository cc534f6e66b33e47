package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
)

// consoleEnv is a server on the real handler (newServer) over a SQLite
// file in the test's temporary folder, seeded with one demo account per
// plan.
type consoleEnv struct {
	srv *httptest.Server
	l   *ledger.Ledger
	s   *server
}

// testLogger writes the server's log to the test's.
type testLogger struct{ t *testing.T }

func (w testLogger) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newConsole(t *testing.T) *consoleEnv { return newConsoleClock(t, time.Now) }

// newConsoleClock is newConsole with now as the clock of the ledger and
// of the console.
func newConsoleClock(t *testing.T, now func() time.Time) *consoleEnv {
	t.Helper()
	ctx := context.Background()
	store := testdb.Open(t, testdb.SQLitePath(t))
	logger := slog.New(slog.NewTextHandler(testLogger{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := ledger.NewContext(ctx, store, &ledger.Config{Catalog: serverCatalog(), Logger: logger, Now: now})
	require.NoError(t, err)
	require.NoError(t, seed(ctx, l, 1, logger))
	s, h, err := buildServer(l, &httpcron.Options{Username: cronUser, Password: cronPass}, adminToken, logger)
	require.NoError(t, err)
	s.now, s.runs.now = now, now
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &consoleEnv{srv: srv, l: l, s: s}
}

// browser is an HTTP client with its own cookies that does not follow
// redirects, like a browser tab whose every answer the test looks at.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e *consoleEnv) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: e.srv.URL, c: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(req *http.Request) (int, http.Header, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, resp.Header, string(body)
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	require.NoError(b.t, err)
	status, _, body := b.do(req)
	return status, body
}

// post sends a form; kv are field names and values.
func (b *browser) post(path string, kv ...string) (int, http.Header, string) {
	b.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login signs in with the admin token and returns the session's CSRF
// token, read from a page as a browser would.
func (b *browser) login() string {
	b.t.Helper()
	status, h, _ := b.post("/login", "token", adminToken, "next", "/accounts/demo-free-1")
	require.Equal(b.t, http.StatusSeeOther, status)
	require.Equal(b.t, "/accounts/demo-free-1", h.Get("Location"))
	_, page := b.get("/")
	return csrfOf(b.t, page)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	require.NotNil(t, m, "no CSRF token in the page")
	return html.UnescapeString(m[1])
}

// text returns the text of the element with id in page, tags stripped.
func text(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</`).FindStringSubmatch(page)
	require.NotNil(t, m, "no element #%s in the page", id)
	return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], ""))
}

// history returns the history table of an account page.
func history(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<table id="history">.*?</table>`).FindString(page)
	require.NotEmpty(t, m, "no history table in the page")
	return m
}

func (e *consoleEnv) available(t *testing.T, account string) string {
	t.Helper()
	b, err := e.l.Balance(context.Background(), account)
	require.NoError(t, err)
	return b.Available.String()
}

func (e *consoleEnv) entries(t *testing.T, account string) int {
	t.Helper()
	p, err := e.l.Entries(context.Background(), account, &ledger.ListOpts{Limit: ledger.MaxPageSize})
	require.NoError(t, err)
	return len(p.Entries)
}

// The forms write only with a session cookie set by the login form and
// the session's CSRF token; the cookie is HttpOnly and SameSite=Strict;
// the JSON API ignores it.
func TestConsoleLoginAndCSRF(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	b := e.browser(t)
	grant := "/accounts/demo-free-1/grant"

	// Reads need no session, and a reader sees no form that writes.
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/accounts/demo-free-1", nil)
	require.NoError(t, err)
	status, h, page := b.do(req)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'", "no script runs, not even an injected one")
	require.Equal(t, "DENY", h.Get("X-Frame-Options"))
	require.Equal(t, "200", text(t, page, "available"))
	require.NotContains(t, page, `name="csrf"`)
	require.Contains(t, page, `id="sign-in-to-act"`)
	require.NotContains(t, page, "<script", "reads work without JavaScript")

	// No session: the login page, nothing written.
	status, _, page = b.post(grant, "amount", "10", "key", "k1")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, page, "nothing was written")
	require.Contains(t, page, `name="next" value="/accounts/demo-free-1"`)
	require.Equal(t, "200", e.available(t, "demo-free-1"))

	// A wrong token: 401, no cookie.
	status, h, page = b.post("/login", "token", "not-the-token")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Empty(t, h.Values("Set-Cookie"))
	require.Contains(t, page, "That is not the admin token.")

	// The right one: a session cookie that scripts cannot read and other
	// sites do not send, and a redirect that stays on this server.
	status, h, _ = b.post("/login", "token", adminToken, "next", "https://evil.example/")
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/", h.Get("Location"))
	cookie := h.Get("Set-Cookie")
	require.Contains(t, cookie, sessionCookie+"=")
	require.Contains(t, cookie, "HttpOnly")
	require.Contains(t, cookie, "SameSite=Strict")
	require.Contains(t, cookie, "Path=/")
	require.NotContains(t, cookie, adminToken)

	// A session but no CSRF token, or another session's: 403, nothing written.
	status, _, _ = b.post(grant, "amount", "10", "key", "k1")
	require.Equal(t, http.StatusForbidden, status)
	other := e.browser(t)
	otherCSRF := other.login()
	status, _, _ = b.post(grant, "amount", "10", "key", "k1", "csrf", otherCSRF)
	require.Equal(t, http.StatusForbidden, status)
	require.Equal(t, "200", e.available(t, "demo-free-1"))

	// With both: written, and the page shows the new state.
	_, page = b.get("/accounts/demo-free-1")
	csrf := csrfOf(t, page)
	require.NotEqual(t, otherCSRF, csrf)
	status, _, page = b.post(grant, "amount", "10", "key", "k1", "csrf", csrf)
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "210", text(t, page, "available"))
	require.Contains(t, page, "Granted 10 credits: 210 credits available now")
	require.Equal(t, "210", e.available(t, "demo-free-1"))

	// The JSON API keeps the Bearer header: the cookie is not enough.
	req, err = http.NewRequest(http.MethodPost, e.srv.URL+"/api/accounts/demo-free-1/consume", strings.NewReader(`{"amount":"1"}`))
	require.NoError(t, err)
	status, _, _ = b.do(req)
	require.Equal(t, http.StatusUnauthorized, status)

	// Logging out clears the cookie: the next form is refused.
	status, h, _ = b.post("/logout", "csrf", csrf)
	require.Equal(t, http.StatusSeeOther, status)
	require.Contains(t, h.Get("Set-Cookie"), "Max-Age=0")
	status, _, _ = b.post(grant, "amount", "10", "key", "k2", "csrf", csrf)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "210", e.available(t, "demo-free-1"))
}

// A session cookie that was tampered with, or has expired, is no session.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	s := newSessions()
	s.now = func() time.Time { return now }
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	c := s.issue(r)
	withCookie := func(v string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		return r
	}
	id, ok := s.session(withCookie(c.Value))
	require.True(t, ok)
	require.NotEmpty(t, id)

	parts := strings.Split(c.Value, ".")
	require.Len(t, parts, 3)
	for _, v := range []string{
		"", "x", parts[0] + "." + parts[1], // no MAC
		"other." + parts[1] + "." + parts[2],                         // another id
		parts[0] + ".99999999999." + parts[2],                        // a later expiry
		parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-2], // a cut MAC
	} {
		_, ok := s.session(withCookie(v))
		require.False(t, ok, "cookie %q", v)
	}
	// Another server (another key) does not accept it.
	_, ok = newSessions().session(withCookie(c.Value))
	require.False(t, ok)
	// It ends after sessionTTL.
	now = now.Add(sessionTTL)
	_, ok = s.session(withCookie(c.Value))
	require.False(t, ok)
}

// Each form answers with the new state or says why it refused, and writes
// nothing on bad input; a form sent twice replays.
func TestConsoleForms(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	b := e.browser(t)
	csrf := b.login()
	acct := "/accounts/demo-free-1"
	before := e.entries(t, "demo-free-1")

	for _, tc := range []struct {
		name   string
		path   string
		fields []string
		status int
		msg    string
	}{
		{"amount not a number", "/grant", []string{"amount", "ten"}, 400, `amount &#34;ten&#34; is not a decimal number such as 10 (invalid_amount)`},
		{"negative amount", "/grant", []string{"amount", "-5"}, 400, "invalid_amount"},
		{"too precise", "/consume", []string{"amount", "1.5"}, 400, "invalid_amount"},
		{"no amount", "/consume", []string{"amount", " "}, 400, "amount is required"},
		{"days not a number", "/grant", []string{"amount", "5", "expiresInDays", "soon"}, 400, `expiresInDays &#34;soon&#34; is not a whole number`},
		{"days out of range", "/grant", []string{"amount", "5", "expiresInDays", "0"}, 400, "expiresInDays 0 is not from 1 to 36500"},
		{"reserved source", "/grant", []string{"amount", "5", "source", "monthly_refresh"}, 400, "reserved_source"},
		{"unknown pack", "/grant", []string{"pack", "gold"}, 400, "unknown pack &#34;gold&#34;"},
		{"pack and amount", "/grant", []string{"pack", "basic", "amount", "5"}, 400, "a pack grant takes only pack"},
		{"too much", "/consume", []string{"amount", "201"}, 402, "has 200 available, 201 asked"},
		{"unknown plan", "/plan", []string{"plan", "platinum"}, 400, "unknown plan &#34;platinum&#34;"},
		{"no plan", "/plan", []string{"plan", ""}, 400, "plan is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := append([]string{"csrf", csrf, "key", "bad-" + tc.name}, tc.fields...)
			status, _, page := b.post(acct+tc.path, fields...)
			require.Equal(t, tc.status, status, page)
			require.Contains(t, text(t, page, "flash-error"), "Nothing was written.")
			require.Contains(t, page, tc.msg)
			require.Equal(t, "200", text(t, page, "available"), "the page shows the state, unchanged")
		})
	}
	require.Equal(t, "200", e.available(t, "demo-free-1"))
	require.Equal(t, before, e.entries(t, "demo-free-1"), "no entry written")

	// A pack, an amount with an expiry, a consume, a plan: each page shows
	// the new balance and the history its entries.
	status, _, page := b.post(acct+"/grant", "csrf", csrf, "key", "p1", "pack", "basic")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "300", text(t, page, "available"))
	require.Contains(t, page, "Granted pack basic: 300 credits available now")

	status, _, page = b.post(acct+"/grant", "csrf", csrf, "key", "g1", "amount", "7", "expiresInDays", "3",
		"source", "support", "description", "<b>sorry</b>")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "307", text(t, page, "available"))
	require.Equal(t, "7", text(t, page, "expiring"), "7 credits expire within 7 days")
	require.Regexp(t, `7 credits: 307 credits available now \(operation [0-9A-Z]+, 1 entry\)\.`, text(t, page, "flash-notice"), "one entry, in the singular")
	require.Contains(t, page, "&lt;b&gt;sorry&lt;/b&gt;", "descriptions are escaped")
	require.NotContains(t, page, "<b>sorry</b>")
	require.Regexp(t, `expires 20[0-9-]+ [0-9:]+ UTC \(in 2d 23h\)`, page, "the lot's countdown")

	status, _, page = b.post(acct+"/consume", "csrf", csrf, "key", "c1", "amount", "10", "description", "one AI call")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "297", text(t, page, "available"))
	require.Regexp(t, `\(operation [0-9A-Z]+, 2 entries\)\.`, text(t, page, "flash-notice"))
	require.Regexp(t, `(?s)^<table id="history">.*?<tbody>\s*<tr><td class="time">.*?</td><td><span class="kind kind-consume">consume</span></td>\s*<td class="num neg">-3</td>.*`+
		`<span class="kind kind-consume">consume</span></td>\s*<td class="num neg">-7</td>.*<span class="kind kind-grant">grant</span></td>\s*<td class="num pos">\+7</td>`,
		history(t, page), "newest first: the consume drew 7 from the lot expiring first, then 3")

	// The same form again (a reload): replayed, nothing written.
	n := e.entries(t, "demo-free-1")
	status, _, page = b.post(acct+"/consume", "csrf", csrf, "key", "c1", "amount", "10", "description", "one AI call")
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, "This form was already sent: nothing was written again")
	require.Equal(t, "297", text(t, page, "available"))
	require.Equal(t, n, e.entries(t, "demo-free-1"))

	status, _, page = b.post(acct+"/plan", "csrf", csrf, "plan", "pro_monthly")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "pro_monthly", text(t, page, "plan"))
	require.Contains(t, page, "Plan set to pro_monthly")

	// An id the ledger cannot take: 400, no forms, nothing written.
	tooLong := strings.Repeat("x", 256)
	status, page = b.get("/accounts/" + tooLong)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, text(t, page, "flash-error"), "(invalid_argument)")
	require.NotContains(t, page, `id="grant-amount"`)
	status, _, page = b.post("/accounts/"+tooLong+"/grant", "csrf", csrf, "key", "t1", "amount", "5")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, text(t, page, "flash-error"), "Nothing was written.")

	// A grant creates an account that did not exist; its page said 404.
	status, page = b.get("/accounts/new%2Fone")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, page, "never been written to")
	status, _, page = b.post("/accounts/new%2Fone/grant", "csrf", csrf, "key", "n1", "amount", "5")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "new/one", text(t, page, "account-id"))
	require.Equal(t, "5", text(t, page, "available"))
	require.Equal(t, "5", e.available(t, "new/one"))
}

// The history pages through every entry, newest first; a cursor edited
// by hand says so and shows the newest page.
func TestConsoleHistoryPaging(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	ctx := context.Background()
	for i := range 30 {
		_, err := e.l.Grant(ctx, ledger.GrantParams{Account: "many", Amount: decimal.NewFromInt(int64(i + 1)),
			IdempotencyKey: fmt.Sprint("h", i), Source: fmt.Sprintf("src-%02d", i)})
		require.NoError(t, err)
	}
	b := e.browser(t)
	status, page := b.get("/accounts/many")
	require.Equal(t, http.StatusOK, status)
	hist := history(t, page)
	require.Equal(t, historyPage, strings.Count(hist, `<span class="kind kind-grant">`))
	require.Contains(t, hist, "src-29")
	require.NotContains(t, hist, "src-04<")
	next := regexp.MustCompile(`id="older" href="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, next)
	status, page = b.get(html.UnescapeString(next[1]))
	require.Equal(t, http.StatusOK, status)
	hist = history(t, page)
	require.Equal(t, 5, strings.Count(hist, `<span class="kind kind-grant">`))
	require.Contains(t, hist, "src-00<")
	require.NotContains(t, hist, "src-05<")
	require.NotContains(t, page, `id="older"`)
	require.Contains(t, page, "« newest")

	status, page = b.get("/accounts/many?cursor=garbage")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "is not valid; showing the newest entries")
	require.Contains(t, history(t, page), "src-29")
}

// The accounts page lists 200 accounts at a time with a link to the next
// ones, searches ids, and adds up every account.
func TestConsoleAccountsPagingSearchTotals(t *testing.T) {
	t.Parallel()
	e := newConsole(t) // 4 demo accounts: 200 + 150 + 1150 + 1150 = 2650
	ctx := context.Background()
	for i := range 250 {
		p := ledger.GrantParams{Account: fmt.Sprintf("user-%03d", i), Amount: decimal.NewFromInt(2), IdempotencyKey: fmt.Sprint("k", i)}
		if i%50 == 0 {
			p.ExpiresIn = 48 * time.Hour
		}
		_, err := e.l.Grant(ctx, p)
		require.NoError(t, err)
	}
	b := e.browser(t)
	status, page := b.get("/")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "254", text(t, page, "total-accounts"))
	require.Equal(t, "3150", text(t, page, "total-available"))
	require.Equal(t, "10", text(t, page, "total-expiring"))
	require.Equal(t, pageAccounts, strings.Count(page, `<td class="id">`))
	require.Contains(t, page, ">demo-free-1<")
	require.Contains(t, page, ">user-195<")
	require.NotContains(t, page, ">user-196<")
	next := regexp.MustCompile(`id="next-page" href="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, next)
	require.Equal(t, "/?after=user-195", html.UnescapeString(next[1]))

	_, page = b.get("/?after=user-195")
	require.Equal(t, 54, strings.Count(page, `<td class="id">`))
	require.Contains(t, page, ">user-196<")
	require.Contains(t, page, ">user-249<")
	require.NotContains(t, page, `id="next-page"`)
	require.Equal(t, "254", text(t, page, "total-accounts"), "totals cover every account on every page")

	// Past the totals' limit they say so, and the pages still list every
	// account.
	e.s.totalsLimit = 100
	_, page = b.get("/")
	require.Equal(t, "100", text(t, page, "total-accounts"))
	require.Contains(t, page, "accounts (first 100)")
	require.Equal(t, pageAccounts, strings.Count(page, `<td class="id">`))
	_, page = b.get("/?after=user-195")
	require.Equal(t, 54, strings.Count(page, `<td class="id">`))
	require.Contains(t, page, ">user-249<")
	e.s.totalsLimit = defaultTotalsLimit

	_, page = b.get("/?q=USER-24")
	require.Equal(t, 10, strings.Count(page, `<td class="id">`), "user-240 to user-249, any letter case")
	require.Contains(t, page, `value="USER-24"`)
	_, page = b.get("/?q=%3Cscript%3E")
	require.Contains(t, page, "No account id contains “&lt;script&gt;”")
}

// Run now goes through the cron endpoint with its credentials; the page
// shows its answer and the last runs, the cron's included.
func TestConsoleRunNow(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	b := e.browser(t)

	status, _, page := b.post("/distribute", "csrf", "x")
	require.Equal(t, http.StatusUnauthorized, status, "no session")
	require.Contains(t, page, `name="next" value="/"`)

	// The demo accounts got this period's credits when seeded; one
	// account a host wrote to directly is owed the free plan's 50.
	_, err := e.l.Grant(context.Background(), ledger.GrantParams{Account: "due-1", Amount: decimal.NewFromInt(5), IdempotencyKey: "d"})
	require.NoError(t, err)

	csrf := b.login()
	_, page = b.get("/")
	require.Contains(t, page, "No run since the server started.")
	require.NotContains(t, page, `id="run-progress"`)

	// While a run goes on, the page says so (another tab; the one that
	// asked waits for the answer).
	e.s.runs.mu.Lock()
	e.s.runs.running = &runRecord{Trigger: "cron", Started: time.Now().Add(-3 * time.Second)}
	e.s.runs.mu.Unlock()
	_, page = b.get("/")
	require.Regexp(t, `id="run-progress">A run started by cron is in progress, started [34]s ago\.`, page)
	e.s.runs.mu.Lock()
	e.s.runs.running.Progress = &ledger.DistributeProgress{Accounts: 400, Chunks: 2, Granted: 7, GrantedCredits: decimal.NewFromInt(350),
		Expired: 1, ExpiredCredits: decimal.NewFromInt(5), Remaining: -1}
	e.s.runs.mu.Unlock()
	_, page = b.get("/")
	require.Contains(t, page, "400 accounts examined in 2 chunks, 7 lots granted (350 credits), 1 expired (5 credits), 0 errors.")
	e.s.runs.mu.Lock()
	e.s.runs.running = nil
	e.s.runs.mu.Unlock()
	status, _, page = b.post("/distribute", "csrf", csrf)
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, "Distribution run: distribute credits success, users: 1, processed: 1, errors: 0; 1 lot granted (50 credits), 0 expired (0 credits), complete: true")
	require.Regexp(t, `(?s)<table id="runs">.*<td class="nowrap">console</td>\s*<td class="num">1</td><td class="num hide-narrow">0</td><td class="num">1 lot, 50</td>`, page, "1 lot, in the singular")
	require.Equal(t, "55", e.available(t, "due-1"))

	// The scheduler's own call shows up too, newest first; this period is
	// granted, so it grants nothing.
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/distribute-credits", nil)
	require.NoError(t, err)
	req.SetBasicAuth(cronUser, cronPass)
	status, _, _ = b.do(req)
	require.Equal(t, http.StatusOK, status)
	_, page = b.get("/")
	require.Regexp(t, `(?s)<table id="runs">.*<td class="nowrap">cron</td>\s*<td class="num">0</td><td class="num hide-narrow">0</td><td class="num">0 lots, 0</td>.*<td class="nowrap">console</td>`, page)
	require.Equal(t, "55", e.available(t, "due-1"))
}

// The run log keeps the last keptRuns runs and the one in progress.
func TestRunLog(t *testing.T) {
	t.Parallel()
	g := &runLog{}
	inside := make(chan struct{})
	release := make(chan struct{})
	go func() {
		_, _ = g.track(context.WithValue(context.Background(), triggerKey{}, "console"),
			func(_ context.Context, progress func(ledger.DistributeProgress)) (*ledger.DistributeResult, error) {
				progress(ledger.DistributeProgress{Accounts: 2, Chunks: 1})
				close(inside)
				<-release
				return &ledger.DistributeResult{Accounts: 3, Complete: true}, nil
			})
	}()
	<-inside
	running, last := g.snapshot()
	require.NotNil(t, running)
	require.Equal(t, "console", running.Trigger)
	require.Equal(t, 2, running.Progress.Accounts)
	require.Empty(t, last)
	close(release)
	require.Eventually(t, func() bool { r, _ := g.snapshot(); return r == nil }, 5*time.Second, time.Millisecond)

	for i := range keptRuns + 2 {
		_, err := g.track(context.Background(), func(context.Context, func(ledger.DistributeProgress)) (*ledger.DistributeResult, error) {
			if i == keptRuns+1 {
				return nil, io.ErrUnexpectedEOF
			}
			return &ledger.DistributeResult{Accounts: i}, nil
		})
		if i == keptRuns+1 {
			require.Error(t, err)
		}
	}
	_, last = g.snapshot()
	require.Len(t, last, keptRuns)
	require.True(t, last[0].Failed)
	require.Nil(t, last[0].Result)
	require.Equal(t, "cron", last[0].Trigger)
	require.Equal(t, keptRuns, last[1].Result.Accounts)
}

// Countdowns: days and hours, hours, minutes (a hold lasts 15 minutes by
// default), then the date alone past a year.
func TestUntil(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, " (expired)"},
		{0, " (expired)"},
		{30 * time.Second, " (in less than a minute)"},
		{14*time.Minute + 59*time.Second, " (in 14m)"},
		{3*time.Hour + 5*time.Minute, " (in 3h)"},
		{2*24*time.Hour + 23*time.Hour + 59*time.Minute, " (in 2d 23h)"},
		{farAway + time.Hour, ""},
	} {
		require.Equal(t, tc.want, until(now.Add(tc.in), now), tc.in)
	}
}

// The pages come from the embedded templates/ files: the style sheet is
// inlined whole and unescaped, and every page and feature section the
// handlers name is defined.
func TestConsoleTemplatesEmbedded(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	css, err := templateFiles.ReadFile("templates/console.css")
	require.NoError(t, err)
	require.Contains(t, string(css), ".stats {")
	status, page := e.browser(t).get("/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "<style>"+string(css)+"</style>")

	names := []string{"head", "time", "foot", "index", "account", "login"}
	for _, f := range e.s.features {
		if f.section != "" {
			names = append(names, f.section)
		}
	}
	for _, name := range names {
		require.NotNil(t, consoleTemplates().Lookup(name), "template %q", name)
	}
}

// resolveLikeBrowser resolves href against base as a browser does: dot
// segments removed, "%2e" counting as a dot (the URL standard's rule,
// which Go's ResolveReference does not apply).
func resolveLikeBrowser(t *testing.T, base, href string) string {
	t.Helper()
	ref, err := url.Parse(html.UnescapeString(href))
	require.NoError(t, err)
	segs := strings.Split(ref.EscapedPath(), "/")
	for i, s := range segs {
		switch strings.ToLower(s) {
		case "%2e":
			segs[i] = "."
		case "%2e%2e", ".%2e", "%2e.":
			segs[i] = ".."
		}
	}
	ref.RawPath, ref.Path = "", ""
	fixed, err := url.Parse(strings.Join(segs, "/"))
	require.NoError(t, err)
	ref.Path, ref.RawPath = fixed.Path, fixed.RawPath
	b, err := url.Parse(base)
	require.NoError(t, err)
	return b.ResolveReference(ref).String()
}

var hrefRe = regexp.MustCompile(`(?:href|action)="([^"]*)"`)

// Accounts named "." or ".." (or starting with dots) get links and forms
// that a browser does not resolve to another page: each one lands on the
// account it names, and a form sent there writes to that account only.
func TestConsoleDotSegmentIDs(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	ctx := context.Background()
	ids := []string{".", "..", "...", "../x", "./x", "..%2e", "%2e%2e", ".x"}
	for i, id := range ids {
		_, err := e.l.Grant(ctx, ledger.GrantParams{Account: id, Amount: decimal.NewFromInt(int64(10 + i)), IdempotencyKey: "dot"})
		require.NoError(t, err)
	}
	b := e.browser(t)
	csrf := b.login()
	_, index := b.get("/")
	for i, id := range ids {
		t.Run(id, func(t *testing.T) {
			want := fmt.Sprint(10 + i)
			m := regexp.MustCompile(`<a href="([^"]*)"><code>` + regexp.QuoteMeta(html.EscapeString(id)) + `</code>`).FindStringSubmatch(index)
			require.NotNil(t, m, "a link to %q on the accounts page", id)
			page := resolveLikeBrowser(t, e.srv.URL+"/", m[1])
			status, body := b.get(strings.TrimPrefix(page, e.srv.URL))
			require.Equal(t, http.StatusOK, status, "%s: %s", page, body)
			require.Equal(t, id, text(t, body, "account-id"), "the link %s", m[1])
			require.Equal(t, want, text(t, body, "available"))

			// Every link and form of the page that goes to an account's
			// page goes to this one's.
			for _, h := range hrefRe.FindAllStringSubmatch(body, -1) {
				u, err := url.Parse(resolveLikeBrowser(t, page, h[1]))
				require.NoError(t, err)
				switch first, rest, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/"); first {
				case "accounts":
					seg, _, _ := strings.Cut(rest, "/")
					got, err := url.PathUnescape(seg)
					require.NoError(t, err)
					require.Equal(t, id, got, "%s on %q's page resolves to %s", h[1], id, u)
				case "account":
					require.Equal(t, id, u.Query().Get("id"), "%s on %q's page resolves to %s", h[1], id, u)
				}
			}
			m = regexp.MustCompile(`<form class="card" method="post" action="([^"]*)" id="consume">`).FindStringSubmatch(body)
			require.NotNil(t, m)
			status, _, body = b.post(strings.TrimPrefix(resolveLikeBrowser(t, page, m[1]), e.srv.URL),
				"csrf", csrf, "key", "c-"+id, "amount", "1")
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, id, text(t, body, "account-id"))
			require.Equal(t, fmt.Sprint(10+i-1), e.available(t, id), "the consume went to %q", id)
		})
	}
	require.Equal(t, "200", e.available(t, "demo-free-1"), "no other account was written")
}
