package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// server holds what the handlers need.
type server struct {
	l      *ledger.Ledger
	logger *slog.Logger
	// reserved are the grant sources the ledger writes itself (lower
	// case), with what writes them; the grant route refuses them.
	reserved map[string]string
	admin    *adminAuth
	sessions *sessions        // the console's
	creds    httpcron.Options // the cron endpoint's credentials, for Run now
	cron     http.Handler     // the cron endpoint
	runs     *runLog          // the distribution's last runs
	features []feature        // compiledFeatures
	// totalsLimit is the most accounts the console's totals add up
	// (defaultTotalsLimit).
	totalsLimit int
	// now is the console's clock, the ledger's (time.Now unless a test
	// sets both), so that a page's countdowns agree with its balances.
	now func() time.Time
	// webhookURL is where events are delivered, without credentials;
	// "" when no webhook is set (console_events.go shows it).
	webhookURL string
}

// newServer returns the example's whole HTTP handler: the cron endpoint
// guarded by creds (Run is set here), the JSON API whose routes that write
// require adminToken as a bearer token, the console (console.go; its forms
// take adminToken once, at sign-in), the routes of the compiled-in
// features (features.go), all behind the request log.
func newServer(l *ledger.Ledger, creds *httpcron.Options, adminToken string, logger *slog.Logger) (http.Handler, error) {
	_, h, err := buildServer(l, creds, adminToken, logger)
	return h, err
}

// buildServer is newServer, and also returns the server behind the
// handler (tests look at its state).
func buildServer(l *ledger.Ledger, creds *httpcron.Options, adminToken string, logger *slog.Logger) (*server, http.Handler, error) {
	if adminToken == "" {
		return nil, nil, errors.New("the admin token is empty")
	}
	admin := newAdminAuth(adminToken, logger)
	s := &server{
		l: l, logger: logger, reserved: reservedSources(l.Catalog(), time.Now()),
		admin: admin, sessions: newSessions(), creds: *creds, runs: &runLog{}, features: compiledFeatures(), totalsLimit: defaultTotalsLimit, now: time.Now,
	}

	opts := *creds
	opts.Logger = logger
	opts.Run = func(ctx context.Context) (*ledger.DistributeResult, error) {
		// The handler's context carries the 25 s budget as its deadline;
		// Distribute stops starting chunks before it and reports
		// Complete: false, and the next call goes on. The console shows
		// the last runs, whoever started them.
		return s.runs.track(ctx, func(ctx context.Context, progress func(ledger.DistributeProgress)) (*ledger.DistributeResult, error) {
			return l.Distribute(ctx, &ledger.DistributeOpts{Progress: progress})
		})
	}
	cron, err := httpcron.NewHandler(&opts)
	if err != nil {
		return nil, nil, err
	}
	s.cron = cron

	mux := http.NewServeMux()
	mux.Handle("/api/distribute-credits", cron) // it checks methods itself
	route(mux, http.MethodGet, "/api/accounts/{id}", s.getBalance)
	route(mux, http.MethodGet, "/api/account", idFromQuery(s.getBalance)) // ?id=..: see accountURL
	route(mux, http.MethodGet, "/api/accounts/{id}/entries", s.getEntries)
	// Every route that writes requires the admin token; reads stay open.
	route(mux, http.MethodPost, "/api/accounts/{id}/consume", admin.require(s.postConsume))
	route(mux, http.MethodPost, "/api/accounts/{id}/grant", admin.require(s.postGrant))
	route(mux, http.MethodPut, "/api/accounts/{id}/plan", admin.require(s.putPlan))
	route(mux, http.MethodPut, "/api/accounts/{id}/lots/{lot}/expiry", admin.require(s.putLotExpiry))
	for _, f := range s.features {
		if f.routes != nil {
			f.routes(s, mux, admin)
		}
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeRouteNotFound, "no such route: "+r.Method+" "+r.URL.Path)
	})
	// The console (console.go): pages open to read, forms behind a
	// session and its CSRF token.
	mux.HandleFunc("GET /{$}", s.index)
	accountRoute(mux, http.MethodGet, "", s.account)
	accountRoute(mux, http.MethodPost, "/grant", s.action(s.formGrant))
	accountRoute(mux, http.MethodPost, "/consume", s.action(s.formConsume))
	accountRoute(mux, http.MethodPost, "/plan", s.action(s.formPlan))
	mux.HandleFunc("POST /distribute", s.action(s.formDistribute))
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.action(s.logout))
	return s, logRequests(logger, mux), nil
}

// route registers h for method and path, and a JSON 405 with Allow for
// the other methods on that path (the mux's own 405 is plain text).
func route(mux *http.ServeMux, method, path string, h http.HandlerFunc) {
	mux.HandleFunc(method+" "+path, h)
	allow := method
	if method == http.MethodGet {
		allow += ", " + http.MethodHead
	}
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method "+r.Method+" is not allowed here; use "+method)
	})
}

func (s *server) getBalance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, err := s.l.Balance(r.Context(), id)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, s.balanceOut(b))
}

func (s *server) getEntries(w http.ResponseWriter, r *http.Request) {
	opts := &ledger.ListOpts{Cursor: r.URL.Query().Get("cursor")}
	if q := r.URL.Query(); q.Has("limit") {
		// Checked here, not by the ledger: it reads 0 as "the default",
		// and its message would not show what the caller sent.
		v := q.Get("limit")
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ledger.MaxPageSize {
			writeError(w, http.StatusBadRequest, codeInvalidArgument, fmt.Sprintf(
				"limit %s is not an integer from 1 to %d (leave it out for %d)", strconv.Quote(short(v)),
				ledger.MaxPageSize, ledger.DefaultPageSize))
			return
		}
		opts.Limit = n
	}
	if q := r.URL.Query(); q.Has("pool") {
		// ?pool= (empty) is the default pool; no pool parameter: every pool.
		pool := q.Get("pool")
		opts.Pool = &pool
	}
	id := r.PathValue("id")
	page, err := s.l.Entries(r.Context(), id, opts)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	out := entryPageJSON{Account: id, Entries: entriesOut(page.Entries), NextCursor: page.NextCursor}
	writeJSON(w, http.StatusOK, out)
}

type consumeRequest struct {
	// Either Amount, or Feature with Quantity (the catalog prices it).
	Amount   *amount `json:"amount"`
	Feature  string  `json:"feature"`
	Quantity *amount `json:"quantity"`
	// Pool is the credit pool to spend from ("" or absent: the default
	// pool); a feature's pool is the feature's.
	Pool           string            `json:"pool"`
	IdempotencyKey string            `json:"idempotencyKey"`
	Description    string            `json:"description"`
	Metadata       map[string]string `json:"metadata"`
}

func (s *server) postConsume(w http.ResponseWriter, r *http.Request) {
	var req consumeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	rec, err := s.consume(r.Context(), id, &req)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, receiptOut(id, rec))
}

// consume spends credits of account as req says; the JSON route and the
// console's form share it. Its errors are an *apiError or the ledger's.
func (s *server) consume(ctx context.Context, account string, req *consumeRequest) (*ledger.Receipt, error) {
	amount, quantity, err := spendOf(req.Amount, req.Feature, req.Quantity)
	if err != nil {
		return nil, err
	}
	return s.l.Consume(ctx, ledger.ConsumeParams{
		Account:        account,
		Amount:         amount,
		Feature:        req.Feature,
		Quantity:       quantity,
		Pool:           req.Pool,
		IdempotencyKey: req.IdempotencyKey,
		Description:    req.Description,
		Metadata:       req.Metadata,
	})
}

type grantRequest struct {
	// Either Pack, or Amount with the optional fields after it.
	Pack           string            `json:"pack"`
	Amount         *amount           `json:"amount"`
	IdempotencyKey string            `json:"idempotencyKey"`
	Source         string            `json:"source"`
	Description    string            `json:"description"`
	ExpiresInDays  *int              `json:"expiresInDays"` // n*24h after the grant; absent: never expires
	ExpiresAt      *timestamp        `json:"expiresAt"`     // RFC 3339; instead of expiresInDays
	Priority       int               `json:"priority"`
	Metadata       map[string]string `json:"metadata"`
	Pool           string            `json:"pool"`        // the credit pool; "" or absent: the default pool
	EffectiveAt    *timestamp        `json:"effectiveAt"` // RFC 3339: spendable from then; absent: now
}

// maxExpiryDays bounds expiresInDays (100 years) so that the expiry is a
// sane time.
const maxExpiryDays = 36500

func (s *server) postGrant(w http.ResponseWriter, r *http.Request) {
	var req grantRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	rec, err := s.grant(r.Context(), id, &req)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, receiptOut(id, rec))
}

// grant grants account a pack or an amount as req says; the JSON route
// and the console's forms share it, so both refuse the same input. Its
// errors are an *apiError (nothing was asked of the ledger) or the
// ledger's.
func (s *server) grant(ctx context.Context, id string, req *grantRequest) (*ledger.Receipt, error) {
	if req.Pack != "" {
		if req.Amount != nil || req.Source != "" || req.Description != "" || req.ExpiresInDays != nil ||
			req.ExpiresAt != nil || req.Priority != 0 || req.Metadata != nil || req.Pool != "" || req.EffectiveAt != nil {
			return nil, &apiError{http.StatusBadRequest, codeInvalidArgument,
				"a pack grant takes only pack and idempotencyKey: the pack sets the rest"}
		}
		if _, ok := s.l.Catalog().Pack(req.Pack); !ok {
			return nil, &apiError{http.StatusBadRequest, codeUnknownPack,
				"unknown pack " + strconv.Quote(short(req.Pack)) + "; the catalog has: " + strings.Join(packIDs(s.l.Catalog()), ", ")}
		}
		return s.l.GrantPack(ctx, id, req.Pack, req.IdempotencyKey)
	}
	if req.Amount == nil {
		return nil, &apiError{http.StatusBadRequest, codeInvalidAmount, `give either pack, or amount as a decimal string such as "100"`}
	}
	if what, ok := s.reserved[strings.ToLower(strings.TrimSpace(req.Source))]; ok {
		return nil, &apiError{http.StatusBadRequest, codeReservedSource, "source " + strconv.Quote(req.Source) +
			" is reserved: the ledger writes it for " + what + "; give another source (or a pack by its id)"}
	}
	p := ledger.GrantParams{
		Account:        id,
		Amount:         req.Amount.Decimal,
		IdempotencyKey: req.IdempotencyKey,
		Source:         req.Source,
		Description:    req.Description,
		Priority:       req.Priority,
		Metadata:       req.Metadata,
		Pool:           req.Pool,
	}
	if req.EffectiveAt != nil {
		p.EffectiveAt = &req.EffectiveAt.Time
	}
	switch d := req.ExpiresInDays; {
	case d != nil && req.ExpiresAt != nil:
		return nil, &apiError{http.StatusBadRequest, codeInvalidArgument, "give expiresInDays or expiresAt, not both"}
	case d != nil:
		if *d < 1 || *d > maxExpiryDays {
			return nil, &apiError{http.StatusBadRequest, codeInvalidArgument, fmt.Sprintf(
				"expiresInDays %d is not from 1 to %d (leave it out for credits that never expire)", *d, maxExpiryDays)}
		}
		// A duration, not an instant: a retried request replays the
		// first grant instead of conflicting over a later expiry.
		p.ExpiresIn = time.Duration(*d) * 24 * time.Hour
	case req.ExpiresAt != nil:
		p.ExpiresAt = &req.ExpiresAt.Time
	}
	return s.l.Grant(ctx, p)
}

type planRequest struct {
	Plan string `json:"plan"`
	// Anchor is when the plan started (RFC 3339); absent: now, or kept if
	// the account is already on this plan.
	Anchor *timestamp `json:"anchor"`
}

func (s *server) putPlan(w http.ResponseWriter, r *http.Request) {
	var req planRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	b, err := s.setPlan(r.Context(), id, &req)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, s.balanceOut(b))
}

// setPlan puts account on the plan req names and returns the balance it
// left (SetPlan may have granted the signup gift and this period's
// credits); the JSON route and the console's form share it.
func (s *server) setPlan(ctx context.Context, account string, req *planRequest) (*ledger.Balance, error) {
	if req.Plan == "" {
		return nil, &apiError{http.StatusBadRequest, codeInvalidArgument,
			"plan is required; the catalog has: " + strings.Join(planIDs(s.l.Catalog()), ", ")}
	}
	p := ledger.PlanParams{Account: account, Plan: req.Plan}
	if req.Anchor != nil {
		p.Anchor = req.Anchor.Time
	}
	if err := s.l.SetPlan(ctx, p); err != nil {
		if errors.Is(err, ledger.ErrUnknownPlan) {
			return nil, &apiError{http.StatusBadRequest, codeUnknownPlan, "unknown plan " + strconv.Quote(short(req.Plan)) +
				"; the catalog has: " + strings.Join(planIDs(s.l.Catalog()), ", ")}
		}
		return nil, err
	}
	return s.l.Balance(ctx, account)
}

// fail answers an error of the ledger for account: the sentinels are the
// caller's mistakes and get a 4xx with a stable code and a message naming
// the bad value (see errors.go); anything else is a 500 (or a 503 when the
// request was cancelled) whose detail only goes to the log.
func (s *server) fail(w http.ResponseWriter, r *http.Request, account string, err error) {
	if status, code, msg, ok := s.refusal(err, account); ok {
		s.logger.DebugContext(r.Context(), "request refused", "path", r.URL.Path, "code", code, "error", err)
		writeError(w, status, code, msg)
		return
	}
	if r.Context().Err() != nil {
		// The client went away or the server is shutting down.
		s.logger.InfoContext(r.Context(), "request abandoned", "path", r.URL.Path, "error", err)
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "request cancelled")
		return
	}
	s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, codeInternal, "internal error (the server's log has the detail)")
}

// reservedSources returns the grant sources the ledger writes itself with
// catalog c, lower-cased, each with what writes it: the sources of the
// plans' allocations (as each allocation reports it for a period starting
// at now) and the signup gift's. A manual grant under one of them would
// make the history claim a plan or gift grant that never happened.
func reservedSources(c *policy.Catalog, now time.Time) map[string]string {
	out := map[string]string{}
	if c == nil {
		return out
	}
	for _, p := range c.Plans {
		if p.Allocation == nil {
			continue
		}
		due, ok := p.Allocation.Allocate(policy.Account{ID: "reserved-sources", Plan: p.ID, Anchor: now, CreatedAt: now}, now, c.Loc())
		if !ok || due.Source == "" {
			continue
		}
		key := strings.ToLower(due.Source)
		if _, seen := out[key]; !seen {
			out[key] = "the credits of plan " + strconv.Quote(p.ID)
		}
	}
	if g := c.SignupGift; g != nil {
		source := g.Source
		if source == "" {
			source = policy.SourceRegisterGift // the ledger's default
		}
		out[strings.ToLower(source)] = "the signup gift"
	}
	return out
}

func planIDs(c *policy.Catalog) []string {
	var ids []string
	if c != nil {
		for _, p := range c.Plans {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

func packIDs(c *policy.Catalog) []string {
	var ids []string
	if c != nil {
		for _, p := range c.Packs {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

// short cuts a value the caller sent to at most 64 bytes for a message.
func short(v string) string {
	const max = 64
	if len(v) <= max {
		return v
	}
	return v[:max] + "..."
}

// logRequests logs one line per request: method, path, status, duration.
// Never headers (Authorization carries the cron credentials) nor the query.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
