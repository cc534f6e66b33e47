package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// The console: the HTML pages an evaluator uses to look at the ledger and
// act on it. Reads are open (as the JSON API's); every form that writes
// needs a session (the admin token entered once in /login) and carries the
// session's CSRF token. Pages work without JavaScript.
//
//	GET  /                          accounts: search (?q=), paging (?after=), totals, distribution runs
//	GET  /accounts/{id}             one account: balance, open lots, history (?cursor=), forms
//	POST /accounts/{id}/grant       form: a pack, or an amount with optional source and expiry
//	POST /accounts/{id}/consume     form: amount, description
//	POST /accounts/{id}/plan        form: plan
//	GET  /account?id=.., POST /account/grant?id=.., ...
//	                                the same for an id that is a dot segment (accountURL)
//	POST /distribute                form: run the distribution now, through the cron endpoint
//	GET  /login, POST /login        the admin token, once per session
//	POST /logout

const (
	// pageAccounts is the most accounts the accounts page lists at once;
	// "Next" goes on after the last one.
	pageAccounts = 200
	// defaultTotalsLimit is the most accounts the totals add up; past it
	// they say they cover only the first ones.
	defaultTotalsLimit = 10000
	// scanChunk is how many accounts one read of the store walks.
	scanChunk = 200
	// historyPage is how many entries the account page shows at once.
	historyPage = 25
	// expiringWindow is how far ahead "expiring soon" looks.
	expiringWindow = 7 * 24 * time.Hour
)

// layout is what every console page shows around its content.
type layout struct {
	Title    string
	Now      time.Time
	SignedIn bool
	CSRF     string // the session's CSRF token, for the forms
	Here     string // this page's path and query, where the login returns
	Notice   string // what the action just done did
	Error    string // why the action just asked was refused
	HasHeld  bool   // a compiled-in feature knows about holds
}

// accountRow is one line of the accounts page.
type accountRow struct {
	*ledger.Balance
	Held     decimal.Decimal
	Expiring decimal.Decimal // in open lots expiring within expiringWindow
}

// totals are the figures over every account (up to server.totalsLimit).
type totals struct {
	Accounts                  int
	Available, Held, Expiring decimal.Decimal
	Capped                    bool // more accounts exist than were added up
}

type indexPage struct {
	layout
	Host        string
	DefaultPlan string
	Query       string // search: account ids containing it (any letter case)
	After       string // this page starts after this id
	Rows        []accountRow
	Next        string // the After of the next page; "" on the last
	Totals      totals
	Running     *runRecord
	Runs        []runRecord
	RunsChart   *chartSet   // what the runs granted and expired; nil when no run
	Answer      *cronAnswer // what a Run now just answered
}

type accountPage struct {
	layout
	ID       string
	Missing  bool // never written to
	Invalid  bool // the id is not one the ledger takes
	Balance  *ledger.Balance
	Held     decimal.Decimal
	Expiring decimal.Decimal
	Entries  []ledger.Entry
	Cursor   string // of this history page; "" for the newest
	Next     string // of the older page; "" when none
	Plans    []string
	Packs    []packOption
	// Key is a fresh idempotency key for the forms of this page: a form
	// sent twice (a reload, a double click) replays instead of writing
	// twice.
	Key      string
	Extra    map[string]any // what features loaded, by feature name
	Sections []template.HTML
	Chart    *chartSet // the available balance over time; nil when nothing to draw
	// PoolView is the account's pools and the lots of each (pools.go).
	PoolView poolView
	Features []string // the catalog's feature ids, for the consume form
}

type packOption struct {
	ID     string
	Amount decimal.Decimal
}

// page fills the layout of a page for r.
func (s *server) page(r *http.Request, title string) layout {
	p := layout{Title: title, Now: s.now().UTC(), Here: r.URL.RequestURI()}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// The answer of a form: come back to its page, not to the POST.
		p.Here = "/"
		if id := r.PathValue("id"); id != "" {
			p.Here = accountURL(id, "")
		}
	}
	if id, ok := s.sessions.session(r); ok {
		p.SignedIn, p.CSRF = true, s.sessions.csrf(id)
	}
	_, p.HasHeld = s.heldOf(&ledger.Balance{})
	return p
}

// render executes the console template name with data and writes it with
// status; a template error is a 500 whose detail goes to the log.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := consoleTemplates().ExecuteTemplate(&buf, name, data); err != nil {
		s.logger.ErrorContext(r.Context(), "console: rendering failed", "template", name, "error", err)
		http.Error(w, "internal error (the server's log has the detail)", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The pages have no script at all: an injected one would not run.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// index renders the accounts page.
func (s *server) index(w http.ResponseWriter, r *http.Request) {
	s.renderIndex(w, r, http.StatusOK, s.page(r, "Accounts"), nil)
}

func (s *server) renderIndex(w http.ResponseWriter, r *http.Request, status int, l layout, answer *cronAnswer) {
	q := r.URL.Query()
	p := &indexPage{layout: l, Host: r.Host, Query: strings.TrimSpace(q.Get("q")), After: q.Get("after"), Answer: answer}
	if c := s.l.Catalog(); c != nil {
		p.DefaultPlan = c.DefaultPlan
	}
	if err := s.loadAccounts(r.Context(), p); err != nil {
		s.failPage(w, r, err)
		return
	}
	p.Running, p.Runs = s.runs.snapshot()
	p.RunsChart = newRunsChart(p.Runs, s.oneCredit())
	s.render(w, r, status, "index", p)
}

// loadAccounts walks the store's accounts in id order (Scan, the call
// Verify uses; it also reads each account's history: fine for a demo, not
// for a large ledger) and reads each balance through the ledger so that
// expiry and holds apply as everywhere else. It adds up the totals over
// the first s.totalsLimit accounts and lists up to pageAccounts accounts
// after p.After whose id contains p.Query. The list walks from p.After in
// the store's own order (a PostgreSQL collation may not order ids as Go
// compares them); on the first page one walk does both.
func (s *server) loadAccounts(ctx context.Context, p *indexPage) error {
	p.Totals = totals{Available: decimal.Zero, Held: decimal.Zero, Expiring: decimal.Zero}
	query := strings.ToLower(p.Query)
	firstPage := p.After == ""
	listFull := func() bool { return len(p.Rows) > pageAccounts }
	err := s.walk(ctx, "", func(id string) (bool, error) {
		count := p.Totals.Accounts < s.totalsLimit
		if !count {
			p.Totals.Capped = true
			if !firstPage || listFull() {
				return false, nil
			}
		}
		list := firstPage && !listFull() && strings.Contains(strings.ToLower(id), query)
		if !count && !list {
			return true, nil
		}
		row, err := s.row(ctx, id)
		if err != nil {
			return false, err
		}
		if count {
			p.Totals.Accounts++
			p.Totals.Available = p.Totals.Available.Add(row.Available)
			p.Totals.Held = p.Totals.Held.Add(row.Held)
			p.Totals.Expiring = p.Totals.Expiring.Add(row.Expiring)
		}
		if list {
			p.Rows = append(p.Rows, row)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if !firstPage {
		err = s.walk(ctx, p.After, func(id string) (bool, error) {
			if !strings.Contains(strings.ToLower(id), query) {
				return true, nil
			}
			row, err := s.row(ctx, id)
			if err != nil {
				return false, err
			}
			p.Rows = append(p.Rows, row)
			return !listFull(), nil
		})
		if err != nil {
			return err
		}
	}
	if listFull() {
		p.Rows = p.Rows[:pageAccounts]
		p.Next = p.Rows[len(p.Rows)-1].Account
	}
	return nil
}

// walk calls fn with the id of each account after the id after, in the
// store's order, until fn returns false or an error.
func (s *server) walk(ctx context.Context, after string, fn func(id string) (bool, error)) error {
	for {
		dumps, err := s.l.Store().Scan(ctx, after, scanChunk)
		if err != nil {
			return err
		}
		for i := range dumps {
			after = dumps[i].Account.ID
			more, err := fn(after)
			if err != nil || !more {
				return err
			}
		}
		if len(dumps) < scanChunk {
			return nil
		}
	}
}

// row reads one account's line of the accounts page.
func (s *server) row(ctx context.Context, id string) (accountRow, error) {
	b, err := s.l.Balance(ctx, id)
	if err != nil {
		return accountRow{}, err
	}
	held, _ := s.heldOf(b)
	return accountRow{Balance: b, Held: held, Expiring: expiringSoon(b)}, nil
}

// expiringSoon returns the credits of b's open lots that expire within
// expiringWindow of b.At.
func expiringSoon(b *ledger.Balance) decimal.Decimal {
	sum := decimal.Zero
	limit := b.At.Add(expiringWindow)
	for _, l := range b.Lots {
		if l.ExpiresAt != nil && l.ExpiresAt.After(b.At) && !l.ExpiresAt.After(limit) {
			sum = sum.Add(l.Remaining)
		}
	}
	return sum
}

// account renders one account's page.
func (s *server) account(w http.ResponseWriter, r *http.Request) {
	s.renderAccount(w, r, http.StatusOK, s.page(r, "Account"))
}

// renderAccount renders the page of the account in r's path with l (a
// notice or an error of the action just done). status is the answer's,
// except that an account never written to answers 404.
func (s *server) renderAccount(w http.ResponseWriter, r *http.Request, status int, l layout) {
	ctx := r.Context()
	id := r.PathValue("id")
	l.Title = id
	p := &accountPage{layout: l, ID: id, Key: "console:" + randomString(12), Extra: map[string]any{}}
	if c := s.l.Catalog(); c != nil {
		p.Plans = planIDs(c)
		for _, pk := range c.Packs {
			p.Packs = append(p.Packs, packOption{ID: pk.ID, Amount: pk.Amount})
		}
	}
	b, err := s.l.Balance(ctx, id)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		p.Missing = true
		if status == http.StatusOK {
			status = http.StatusNotFound
		}
	case err != nil:
		st, code, msg, ok := s.refusal(err, id)
		if !ok {
			s.failPage(w, r, err)
			return
		}
		// An id the ledger refuses (too long, say): no forms for it.
		p.Invalid = true
		if p.Error == "" {
			p.Error = msg + " (" + code + ")"
		}
		if status == http.StatusOK {
			status = st
		}
		s.render(w, r, status, "account", p)
		return
	default:
		p.Balance = b
		p.PoolView = newPoolView(b)
		p.Features = s.featureIDs()
		p.Held, _ = s.heldOf(b)
		p.Expiring = expiringSoon(b)
		p.Cursor = r.URL.Query().Get("cursor")
		page, err := s.l.Entries(ctx, id, &ledger.ListOpts{Cursor: p.Cursor, Limit: historyPage})
		if errors.Is(err, ledger.ErrInvalidArgument) {
			// A cursor edited by hand: say so, and show the newest page.
			p.Error = "The history cursor " + strconv.Quote(short(p.Cursor)) + " is not valid; showing the newest entries."
			p.Cursor = ""
			page, err = s.l.Entries(ctx, id, &ledger.ListOpts{Limit: historyPage})
		}
		if err != nil {
			s.failPage(w, r, err)
			return
		}
		p.Entries, p.Next = page.Entries, page.NextCursor
		if p.Chart, err = s.balanceChart(ctx, b); err != nil {
			s.failPage(w, r, err)
			return
		}
	}
	for _, f := range s.features {
		if f.load != nil {
			if err := f.load(ctx, s, r, p); err != nil {
				if _, code, msg, ok := s.refusal(err, id); ok {
					p.Error = msg + " (" + code + ")"
					continue
				}
				s.failPage(w, r, err)
				return
			}
		}
	}
	for _, f := range s.features {
		if f.section == "" {
			continue
		}
		var buf bytes.Buffer
		if err := consoleTemplates().ExecuteTemplate(&buf, f.section, p); err != nil {
			s.failPage(w, r, err)
			return
		}
		p.Sections = append(p.Sections, template.HTML(buf.String())) // rendered by html/template: escaped
	}
	s.render(w, r, status, "account", p)
}

// balanceChart draws b's account's available balance over its last
// chartEntries entries, up to b.At; nil when it has none.
func (s *server) balanceChart(ctx context.Context, b *ledger.Balance) (*chartSet, error) {
	page, err := s.l.Entries(ctx, b.Account, &ledger.ListOpts{Limit: chartEntries})
	if err != nil {
		return nil, err
	}
	// Every lot's expiry and what it has left, expired or not: Balance
	// lists only the open ones.
	lots, err := s.l.Store().Lots(ctx, storage.LotQuery{Account: b.Account})
	if err != nil {
		return nil, err
	}
	remaining := make(map[string]decimal.Decimal, len(lots))
	expiries := make(map[string]*time.Time, len(lots))
	for _, l := range lots {
		remaining[l.ID] = decimal.New(l.Remaining, -s.l.Scale())
		expiries[l.ID] = l.ExpiresAt
	}
	points, marks := balanceSeries(page.Entries, remaining, expiries, b.At)
	return newBalanceChart(points, marks, b.At, s.oneCredit()), nil
}

// oneCredit is the smallest amount the ledger writes.
func (s *server) oneCredit() decimal.Decimal { return decimal.New(1, -s.l.Scale()) }

// failPage answers a read that failed for a reason that is not the
// caller's: 503 when the request was cancelled, else 500 with the detail
// in the log only.
func (s *server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		http.Error(w, "request cancelled", http.StatusServiceUnavailable)
		return
	}
	s.logger.ErrorContext(r.Context(), "console: page failed", "path", r.URL.Path, "error", err)
	http.Error(w, "internal error (the server's log has the detail)", http.StatusInternalServerError)
}

// action guards a console form that writes: the body is bounded and
// parsed, the request must carry a valid session cookie (else the login
// page, 401) and the session's CSRF token (else 403). Nothing runs, so
// nothing is written, unless both are there.
func (s *server) action(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
			return
		}
		id, ok := s.sessions.session(r)
		if !ok {
			s.renderLogin(w, r, http.StatusUnauthorized, "Sign in with the admin token first: nothing was written.", "")
			return
		}
		if !s.sessions.checkCSRF(r, id) {
			s.logger.WarnContext(r.Context(), "console: form without a valid CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "This form's CSRF token is missing or stale (or the form came from another site): "+
				"nothing was written. Reload the page and try again.", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// answer renders the account page after an action on it: the notice and
// 200 when err is nil, else the refusal's message and status (500 with no
// detail for an error that is not the caller's).
func (s *server) answer(w http.ResponseWriter, r *http.Request, notice string, err error) {
	l := s.page(r, "")
	if err == nil {
		l.Notice = notice
		s.renderAccount(w, r, http.StatusOK, l)
		return
	}
	id := r.PathValue("id")
	status, code, msg, ok := s.refusal(err, id)
	switch {
	case ok:
		s.logger.DebugContext(r.Context(), "console: action refused", "path", r.URL.Path, "code", code, "error", err)
		l.Error = msg + " (" + code + "). Nothing was written."
	case r.Context().Err() != nil:
		status, l.Error = http.StatusServiceUnavailable, "The request was cancelled."
	default:
		s.logger.ErrorContext(r.Context(), "console: action failed", "path", r.URL.Path, "error", err)
		status, l.Error = http.StatusInternalServerError, "Internal error (the server's log has the detail)."
	}
	s.renderAccount(w, r, status, l)
}

// formAmount reads the decimal in field name of r's form; nil when the
// field is empty.
func formAmount(r *http.Request, name string) (*amount, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	if v == "" {
		return nil, nil
	}
	d, err := decimal.NewFromString(v)
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, codeInvalidAmount,
			name + " " + strconv.Quote(short(v)) + " is not a decimal number such as 10"}
	}
	return &amount{d}, nil
}

// formInt reads the integer in field name of r's form; nil when empty.
func formInt(r *http.Request, name string) (*int, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, codeInvalidArgument,
			name + " " + strconv.Quote(short(v)) + " is not a whole number"}
	}
	return &n, nil
}

func (s *server) formGrant(w http.ResponseWriter, r *http.Request) {
	req := grantRequest{
		Pack:           strings.TrimSpace(r.PostFormValue("pack")),
		IdempotencyKey: r.PostFormValue("key"),
		Source:         strings.TrimSpace(r.PostFormValue("source")),
		Description:    strings.TrimSpace(r.PostFormValue("description")),
		Pool:           strings.TrimSpace(r.PostFormValue("pool")),
	}
	var err error
	if req.Amount, err = formAmount(r, "amount"); err != nil {
		s.answer(w, r, "", err)
		return
	}
	if req.ExpiresInDays, err = formInt(r, "expiresInDays"); err != nil {
		s.answer(w, r, "", err)
		return
	}
	rec, err := s.grant(r.Context(), r.PathValue("id"), &req)
	if err != nil {
		s.answer(w, r, "", err)
		return
	}
	what := "pack " + req.Pack
	if req.Pack == "" {
		what = req.Amount.String() + " credits"
	}
	s.answer(w, r, receiptNotice("Granted "+what, rec), nil)
}

func (s *server) formConsume(w http.ResponseWriter, r *http.Request) {
	req := consumeRequest{
		IdempotencyKey: r.PostFormValue("key"),
		Description:    strings.TrimSpace(r.PostFormValue("description")),
		Pool:           strings.TrimSpace(r.PostFormValue("pool")),
		Feature:        strings.TrimSpace(r.PostFormValue("feature")),
	}
	var err error
	if req.Amount, err = formAmount(r, "amount"); err != nil {
		s.answer(w, r, "", err)
		return
	}
	what := ""
	if req.Feature != "" {
		// With a feature the form's number is the quantity.
		req.Quantity, req.Amount = req.Amount, nil
		if req.Quantity != nil {
			what = req.Quantity.String() + " of " + req.Feature
		}
	} else if req.Amount != nil {
		what = req.Amount.String() + " credits"
	}
	rec, err := s.consume(r.Context(), r.PathValue("id"), &req)
	if err != nil {
		s.answer(w, r, "", err)
		return
	}
	s.answer(w, r, receiptNotice("Consumed "+what, rec), nil)
}

func (s *server) formPlan(w http.ResponseWriter, r *http.Request) {
	req := planRequest{Plan: strings.TrimSpace(r.PostFormValue("plan"))}
	b, err := s.setPlan(r.Context(), r.PathValue("id"), &req)
	if err != nil {
		s.answer(w, r, "", err)
		return
	}
	s.answer(w, r, "Plan set to "+req.Plan+": "+b.Available.String()+" credits available now.", nil)
}

// receiptNotice says what a write did, or that it was a replay.
func receiptNotice(what string, rec *ledger.Receipt) string {
	if rec.Replayed {
		return "This form was already sent: nothing was written again (operation " + rec.OperationID +
			"). " + rec.Balance.String() + " credits available."
	}
	return fmt.Sprintf("%s: %s credits available now (operation %s, %s).", what, rec.Balance, rec.OperationID, plural(len(rec.Entries), "entry"))
}

// formDistribute runs the distribution now and renders the accounts page
// with its answer.
func (s *server) formDistribute(w http.ResponseWriter, r *http.Request) {
	ans := s.runNow(r.Context())
	l := s.page(r, "Accounts")
	status := http.StatusOK
	if ans.OK != nil {
		l.Notice = "Distribution run: " + ans.OK.Message + fmt.Sprintf("; %s granted (%s credits), %d expired (%s credits), complete: %t, %d ms.",
			plural(ans.OK.GrantedCount, "lot"), ans.OK.GrantedCredits, ans.OK.ExpiredCount, ans.OK.ExpiredCredits, ans.OK.Complete, ans.OK.DurationMs)
	} else {
		status = ans.Status
		l.Error = "The distribution endpoint answered " + strconv.Itoa(ans.Status) + ": " + ans.Error + "."
	}
	// The page's own URL is /distribute: list from the first account.
	r.URL.RawQuery = ""
	s.renderIndex(w, r, status, l, &ans)
}

// loginPage is the data of the login form.
type loginPage struct {
	layout
	Next string
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, "", r.URL.Query().Get("next"))
}

func (s *server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	l := s.page(r, "Sign in")
	l.Error = msg
	if next == "" && r.Method == http.MethodPost && r.URL.Path != "/login" {
		// A form sent without a session: come back to its page.
		next = "/"
		if id := r.PathValue("id"); id != "" {
			next = accountURL(id, "")
		}
	}
	s.render(w, r, status, "login", &loginPage{layout: l, Next: localPath(next)})
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	next := localPath(r.PostFormValue("next"))
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" || !s.admin.check(token) {
		// Never the token itself in the log.
		s.logger.WarnContext(r.Context(), "console: wrong admin token at login", "remote", r.RemoteAddr)
		s.renderLogin(w, r, http.StatusUnauthorized, "That is not the admin token.", next)
		return
	}
	http.SetCookie(w, s.sessions.issue(r))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.sessions.cleared(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// localPath returns p when it is a path on this server, else "/": the
// login never redirects elsewhere.
func localPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}

// accountURL returns the path (and query) of the console's page of the
// account id, or of one of its forms when rest is "/grant" and so on, with
// the query parameters kv (name, value, ...; empty values left out).
//
// An id that is a dot segment ("." or "..") cannot be a path segment: a
// browser resolves "/accounts/.." to "/" before it asks (and "%2e%2e"
// too, by the URL standard), so such an account's pages live at
// "/account"+rest with the id in the query (accountRoute).
func accountURL(id, rest string, kv ...string) string {
	q := url.Values{}
	path := "/accounts/" + url.PathEscape(id) + rest
	if isDotSegment(id) {
		path = "/account" + rest
		q.Set("id", id)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}

// isDotSegment reports whether id, as a path segment, is one that a
// browser resolves away.
func isDotSegment(id string) bool { return id == "." || id == ".." }

// accountRoute registers h for method at "/accounts/{id}"+rest and at its
// twin "/account"+rest, which takes the id from the query (accountURL).
func accountRoute(mux *http.ServeMux, method, rest string, h http.HandlerFunc) {
	mux.HandleFunc(method+" /accounts/{id}"+rest, h)
	mux.HandleFunc(method+" /account"+rest, idFromQuery(h))
}

// idFromQuery serves h with the path value id taken from the query's id.
func idFromQuery(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("id", r.URL.Query().Get("id"))
		h(w, r)
	}
}
