package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/ledger"
)

// server holds what the handlers need.
type server struct {
	l      *ledger.Ledger
	logger *slog.Logger
}

// newServer returns the example's whole HTTP handler: the cron endpoint
// guarded by creds (Run is set here), the JSON API, the HTML page, all
// behind the request log.
func newServer(l *ledger.Ledger, creds *httpcron.Options, logger *slog.Logger) (http.Handler, error) {
	s := &server{l: l, logger: logger}

	opts := *creds
	opts.Logger = logger
	opts.Run = func(ctx context.Context) (*ledger.DistributeResult, error) {
		// The handler's context carries the 25 s budget as its deadline;
		// Distribute stops starting chunks before it and reports
		// Complete: false, and the next call goes on.
		return l.Distribute(ctx, &ledger.DistributeOpts{})
	}
	cron, err := httpcron.NewHandler(&opts)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/api/distribute-credits", cron) // it checks methods itself
	route(mux, http.MethodGet, "/api/accounts/{id}", s.getBalance)
	route(mux, http.MethodGet, "/api/accounts/{id}/entries", s.getEntries)
	route(mux, http.MethodPost, "/api/accounts/{id}/consume", s.postConsume)
	route(mux, http.MethodPost, "/api/accounts/{id}/grant", s.postGrant)
	route(mux, http.MethodPut, "/api/accounts/{id}/plan", s.putPlan)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route")
	})
	route(mux, http.MethodGet, "/{$}", s.index)
	return logRequests(logger, mux), nil
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
		writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+method)
	})
}

func (s *server) getBalance(w http.ResponseWriter, r *http.Request) {
	b, err := s.l.Balance(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, balanceOut(b))
}

func (s *server) getEntries(w http.ResponseWriter, r *http.Request) {
	opts := &ledger.ListOpts{Cursor: r.URL.Query().Get("cursor")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "limit must be an integer from 1 to "+strconv.Itoa(ledger.MaxPageSize))
			return
		}
		opts.Limit = n
		if n == 0 { // the ledger reads 0 as "the default"; a caller asking for 0 made a mistake
			opts.Limit = -1
		}
	}
	id := r.PathValue("id")
	page, err := s.l.Entries(r.Context(), id, opts)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := entryPageJSON{Account: id, Entries: entriesOut(page.Entries), NextCursor: page.NextCursor}
	writeJSON(w, http.StatusOK, out)
}

type consumeRequest struct {
	Amount         *amount           `json:"amount"`
	IdempotencyKey string            `json:"idempotencyKey"`
	Description    string            `json:"description"`
	Metadata       map[string]string `json:"metadata"`
}

func (s *server) postConsume(w http.ResponseWriter, r *http.Request) {
	var req consumeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Amount == nil {
		writeError(w, http.StatusBadRequest, `amount is required, as a decimal string such as "10"`)
		return
	}
	rec, err := s.l.Consume(r.Context(), ledger.ConsumeParams{
		Account:        r.PathValue("id"),
		Amount:         req.Amount.Decimal,
		IdempotencyKey: req.IdempotencyKey,
		Description:    req.Description,
		Metadata:       req.Metadata,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, receiptOut(r.PathValue("id"), rec))
}

type grantRequest struct {
	// Either Pack, or Amount with the optional fields after it.
	Pack           string            `json:"pack"`
	Amount         *amount           `json:"amount"`
	IdempotencyKey string            `json:"idempotencyKey"`
	Source         string            `json:"source"`
	Description    string            `json:"description"`
	ExpiresInDays  *int              `json:"expiresInDays"` // n*24h after the grant; absent: never expires
	ExpiresAt      *time.Time        `json:"expiresAt"`     // RFC 3339; instead of expiresInDays
	Priority       int               `json:"priority"`
	Metadata       map[string]string `json:"metadata"`
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
	var rec *ledger.Receipt
	var err error
	if req.Pack != "" {
		if req.Amount != nil || req.Source != "" || req.Description != "" || req.ExpiresInDays != nil ||
			req.ExpiresAt != nil || req.Priority != 0 || req.Metadata != nil {
			writeError(w, http.StatusBadRequest, "a pack grant takes only pack and idempotencyKey: the pack sets the rest")
			return
		}
		if _, ok := s.l.Catalog().Pack(req.Pack); !ok {
			writeError(w, http.StatusBadRequest, "unknown pack "+strconv.Quote(req.Pack))
			return
		}
		rec, err = s.l.GrantPack(r.Context(), id, req.Pack, req.IdempotencyKey)
	} else {
		if req.Amount == nil {
			writeError(w, http.StatusBadRequest, `give either pack, or amount as a decimal string such as "100"`)
			return
		}
		p := ledger.GrantParams{
			Account:        id,
			Amount:         req.Amount.Decimal,
			IdempotencyKey: req.IdempotencyKey,
			Source:         req.Source,
			Description:    req.Description,
			Priority:       req.Priority,
			Metadata:       req.Metadata,
		}
		switch d := req.ExpiresInDays; {
		case d != nil && req.ExpiresAt != nil:
			writeError(w, http.StatusBadRequest, "give expiresInDays or expiresAt, not both")
			return
		case d != nil:
			if *d < 1 || *d > maxExpiryDays {
				writeError(w, http.StatusBadRequest, "expiresInDays must be from 1 to "+strconv.Itoa(maxExpiryDays)+
					" (leave it out for credits that never expire)")
				return
			}
			// A duration, not an instant: a retried request replays the
			// first grant instead of conflicting over a later expiry.
			p.ExpiresIn = time.Duration(*d) * 24 * time.Hour
		case req.ExpiresAt != nil:
			p.ExpiresAt = req.ExpiresAt
		}
		rec, err = s.l.Grant(r.Context(), p)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, receiptOut(id, rec))
}

type planRequest struct {
	Plan string `json:"plan"`
	// Anchor is when the plan started (RFC 3339); absent: now, or kept if
	// the account is already on this plan.
	Anchor *time.Time `json:"anchor"`
}

func (s *server) putPlan(w http.ResponseWriter, r *http.Request) {
	var req planRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Plan == "" {
		writeError(w, http.StatusBadRequest, "plan is required")
		return
	}
	p := ledger.PlanParams{Account: r.PathValue("id"), Plan: req.Plan}
	if req.Anchor != nil {
		p.Anchor = *req.Anchor
	}
	if err := s.l.SetPlan(r.Context(), p); err != nil {
		s.fail(w, r, err)
		return
	}
	// SetPlan may have granted (signup gift, this period's credits): answer
	// with the balance it left.
	b, err := s.l.Balance(r.Context(), p.Account)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, balanceOut(b))
}

// fail answers a ledger error: the sentinels are the caller's mistakes and
// get a 4xx with the ledger's message (it names the bad value); anything
// else is a 500 whose detail only goes to the log.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		// Checked before ErrInsufficientCredits: a consume on an account
		// that was never written to matches both.
		status = http.StatusNotFound
	case errors.Is(err, ledger.ErrInsufficientCredits):
		status = http.StatusPaymentRequired
	case errors.Is(err, ledger.ErrIdempotencyConflict):
		status = http.StatusConflict
	case errors.Is(err, ledger.ErrInvalidAmount),
		errors.Is(err, ledger.ErrInvalidArgument),
		errors.Is(err, ledger.ErrUnknownPlan):
		status = http.StatusBadRequest
	case r.Context().Err() != nil:
		// The client went away or the server is shutting down.
		s.logger.InfoContext(r.Context(), "request abandoned", "path", r.URL.Path, "error", err)
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
		return
	default:
		s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeError(w, status, err.Error())
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
