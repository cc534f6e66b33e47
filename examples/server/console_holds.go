package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
)

// Holds, captures, releases, reversals and balances at a past instant
// (ledger.Hold, Capture, Release, Holds, Reverse, BalanceAt), in the JSON
// API and the console. This file is a feature (compiledFeatures lists it);
// nothing else refers to it.
//
// JSON routes (the ones that write need the admin token, as the others):
//
//	GET  /api/accounts/{id}/holds                     the active holds, oldest first
//	POST /api/accounts/{id}/holds                     {"amount":"20","ttlSeconds":900,"idempotencyKey":"...","description":"..."}
//	                                                  200 hold; 402 insufficient_credits; ttlSeconds 0 or absent:
//	                                                  15 minutes, at most 86400
//	POST /api/accounts/{id}/holds/{hold}/capture      {"amount":"15","description":"..."}; 200 receipt (the rest is
//	                                                  released); 409 hold_not_active; 404 hold_not_found
//	POST /api/accounts/{id}/holds/{hold}/release      no body; 200 hold; 409 hold_not_active; 404 hold_not_found
//	POST /api/accounts/{id}/reverse                   {"operationId":"..."} or {"key":"..."}, optional "amount",
//	                                                  "idempotencyKey", "description"; 200 receipt (no entries:
//	                                                  nothing was left to reverse); 404 operation_not_found
//	GET  /api/accounts/{id}/balance-at?at=RFC3339     the balance at that past instant
//
// Console forms: POST /accounts/{id}/hold, /accounts/{id}/holds/{hold}/capture,
// /accounts/{id}/holds/{hold}/release, /accounts/{id}/reverse; and the
// account page's ?at= (a past instant, UTC) shows the balance then.

// The codes this feature adds to those of errors.go.
const (
	codeHoldNotActive     = "hold_not_active"     // 409: ledger.ErrHoldNotActive
	codeHoldNotFound      = "hold_not_found"      // 404: capture or release of an unknown hold (or account)
	codeOperationNotFound = "operation_not_found" // 404: reversal of an unknown operation or key (or account)
)

// notFound turns the ledger's ErrNotFound of a hold or a reversal into a
// 404 with code, and the ledger's own words (which say whether the hold,
// operation, key or account is unknown); other errors pass.
func notFound(err error, code string) error {
	if errors.Is(err, ledger.ErrNotFound) && !errors.Is(err, ledger.ErrInsufficientCredits) {
		return &apiError{http.StatusNotFound, code, "not found" + detail(err, ledger.ErrNotFound)}
	}
	return err
}

// maxHoldSeconds is ledger.MaxHoldTTL in seconds.
const maxHoldSeconds = int(ledger.MaxHoldTTL / time.Second)

// holdsFeature is this file's entry in compiledFeatures.
func holdsFeature() feature {
	return feature{
		name:    "holds",
		routes:  holdRoutes,
		held:    func(b *ledger.Balance) decimal.Decimal { return b.Held },
		refusal: holdRefusal,
		load:    loadHolds,
		section: "holds-section", // templates/holds.html
	}
}

func holdRefusal(err error, account string) (int, string, string, bool) {
	if errors.Is(err, ledger.ErrHoldNotActive) {
		return http.StatusConflict, codeHoldNotActive, "the hold is not active" + detail(err, ledger.ErrHoldNotActive), true
	}
	return 0, "", "", false
}

func holdRoutes(s *server, mux *http.ServeMux, admin *adminAuth) {
	routeMethods(mux, "/api/accounts/{id}/holds", map[string]http.HandlerFunc{
		http.MethodGet:  s.getHolds,
		http.MethodPost: admin.require(s.postHold),
	})
	route(mux, http.MethodPost, "/api/accounts/{id}/holds/{hold}/capture", admin.require(s.postCapture))
	route(mux, http.MethodPost, "/api/accounts/{id}/holds/{hold}/release", admin.require(s.postRelease))
	route(mux, http.MethodPost, "/api/accounts/{id}/reverse", admin.require(s.postReverse))
	route(mux, http.MethodGet, "/api/accounts/{id}/balance-at", s.getBalanceAt)

	accountRoute(mux, http.MethodPost, "/hold", s.action(s.formHold))
	accountRoute(mux, http.MethodPost, "/holds/{hold}/capture", s.action(s.formCapture))
	accountRoute(mux, http.MethodPost, "/holds/{hold}/release", s.action(s.formRelease))
	accountRoute(mux, http.MethodPost, "/reverse", s.action(s.formReverse))
}

// routeMethods is route for a path with several methods.
func routeMethods(mux *http.ServeMux, path string, hs map[string]http.HandlerFunc) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if h, ok := hs[m]; ok {
			mux.HandleFunc(m+" "+path, h)
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed,
			"method "+r.Method+" is not allowed here; use "+strings.Join(allow, " or "))
	})
}

// The JSON shapes.

type holdJSON struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"`
	Pool      string    `json:"pool,omitempty"` // absent: the default pool
	Amount    string    `json:"amount"`
	Captured  string    `json:"captured"`
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expiresAt"`
	CreatedAt time.Time `json:"createdAt"`
	Replayed  bool      `json:"replayed"`
}

func holdOut(h *ledger.Hold) holdJSON {
	return holdJSON{
		ID: h.ID, Account: h.Account, Pool: h.Pool, Amount: h.Amount.String(), Captured: h.Captured.String(),
		State: string(h.State), ExpiresAt: h.ExpiresAt, CreatedAt: h.CreatedAt, Replayed: h.Replayed,
	}
}

type holdRequest struct {
	// Either Amount, or Feature with Quantity; Pool as for a consume.
	Amount         *amount           `json:"amount"`
	Feature        string            `json:"feature"`
	Quantity       *amount           `json:"quantity"`
	Pool           string            `json:"pool"`
	TTLSeconds     *int              `json:"ttlSeconds"`
	IdempotencyKey string            `json:"idempotencyKey"`
	Description    string            `json:"description"`
	Metadata       map[string]string `json:"metadata"`
}

type captureRequest struct {
	Amount      *amount           `json:"amount"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

type reverseRequest struct {
	OperationID    string            `json:"operationId"`
	Key            string            `json:"key"`
	Amount         *amount           `json:"amount"`
	IdempotencyKey string            `json:"idempotencyKey"`
	Description    string            `json:"description"`
	Metadata       map[string]string `json:"metadata"`
}

// The operations, shared by the JSON routes and the forms.

func (s *server) hold(ctx context.Context, account string, req *holdRequest) (*ledger.Hold, error) {
	amount, quantity, err := spendOf(req.Amount, req.Feature, req.Quantity)
	if err != nil {
		return nil, err
	}
	p := ledger.HoldParams{
		Account: account, Amount: amount, Feature: req.Feature, Quantity: quantity, Pool: req.Pool,
		IdempotencyKey: req.IdempotencyKey, Description: req.Description, Metadata: req.Metadata,
	}
	if n := req.TTLSeconds; n != nil {
		if *n < 0 || *n > maxHoldSeconds {
			return nil, &apiError{http.StatusBadRequest, codeInvalidArgument, fmt.Sprintf(
				"ttlSeconds %d is not from 0 to %d (0 or absent: 15 minutes)", *n, maxHoldSeconds)}
		}
		p.TTL = time.Duration(*n) * time.Second
	}
	return s.l.Hold(ctx, p)
}

func (s *server) capture(ctx context.Context, account, hold string, req *captureRequest) (*ledger.Receipt, error) {
	if req.Amount == nil {
		return nil, &apiError{http.StatusBadRequest, codeInvalidAmount, `amount is required, as a decimal string such as "15"`}
	}
	rec, err := s.l.Capture(ctx, ledger.CaptureParams{
		Account: account, HoldID: hold, Amount: req.Amount.Decimal, Description: req.Description, Metadata: req.Metadata,
	})
	return rec, notFound(err, codeHoldNotFound)
}

func (s *server) release(ctx context.Context, account, hold string) (*ledger.Hold, error) {
	h, err := s.l.Release(ctx, account, hold)
	return h, notFound(err, codeHoldNotFound)
}

func (s *server) reverse(ctx context.Context, account string, req *reverseRequest) (*ledger.Receipt, error) {
	if (req.OperationID == "") == (req.Key == "") {
		return nil, &apiError{http.StatusBadRequest, codeInvalidArgument,
			"give operationId (a receipt's) or key (the call's idempotency key), exactly one of the two"}
	}
	p := ledger.ReverseParams{
		Account: account, OperationID: req.OperationID, Key: req.Key,
		IdempotencyKey: req.IdempotencyKey, Description: req.Description, Metadata: req.Metadata,
	}
	if req.Amount != nil {
		p.Amount = &req.Amount.Decimal
	}
	rec, err := s.l.Reverse(ctx, p)
	return rec, notFound(err, codeOperationNotFound)
}

// parseInstant reads a past instant: RFC 3339, or the "2006-01-02T15:04"
// of an HTML datetime-local input, read in UTC (never the server's zone).
func parseInstant(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &apiError{http.StatusBadRequest, codeInvalidArgument,
		"at " + strconv.Quote(short(v)) + ` is not an instant such as "2026-11-28T09:30:00Z" (or 2026-11-28T09:30, read as UTC)`}
}

// The JSON handlers.

func (s *server) getHolds(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	hs, err := s.l.Holds(r.Context(), id)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	out := make([]holdJSON, len(hs))
	for i := range hs {
		out[i] = holdOut(&hs[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": id, "holds": out})
}

func (s *server) postHold(w http.ResponseWriter, r *http.Request) {
	var req holdRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	h, err := s.hold(r.Context(), id, &req)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, holdOut(h))
}

func (s *server) postCapture(w http.ResponseWriter, r *http.Request) {
	var req captureRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	rec, err := s.capture(r.Context(), id, r.PathValue("hold"), &req)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, receiptOut(id, rec))
}

func (s *server) postRelease(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, err := s.release(r.Context(), id, r.PathValue("hold"))
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, holdOut(h))
}

func (s *server) postReverse(w http.ResponseWriter, r *http.Request) {
	var req reverseRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	rec, err := s.reverse(r.Context(), id, &req)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, receiptOut(id, rec))
}

func (s *server) getBalanceAt(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	at, err := parseInstant(r.URL.Query().Get("at"))
	if err == nil {
		var b *ledger.Balance
		if b, err = s.l.BalanceAt(r.Context(), id, at); err == nil {
			writeJSON(w, http.StatusOK, s.balanceOut(b))
			return
		}
	}
	s.fail(w, r, id, err)
}

// The console.

// holdsSection is what the account page's holds section shows.
type holdsSection struct {
	Holds      []ledger.Hold
	At         string          // the ?at= asked, "" when none
	AtBalance  *ledger.Balance // the balance then
	Operations []ledger.Entry  // the page's entries that can be reversed, one per operation
}

func loadHolds(ctx context.Context, s *server, r *http.Request, p *accountPage) error {
	if p.Missing {
		return nil // no section: nothing to hold, reverse or look back at
	}
	sec := &holdsSection{At: strings.TrimSpace(r.URL.Query().Get("at"))}
	p.Extra["holds"] = sec
	hs, err := s.l.Holds(ctx, p.ID)
	if err != nil {
		return err
	}
	sec.Holds = hs
	seen := map[string]bool{}
	for _, e := range p.Entries {
		switch e.Kind {
		case ledger.KindGrant, ledger.KindConsume, ledger.KindCapture:
			if !seen[e.OperationID] {
				seen[e.OperationID] = true
				sec.Operations = append(sec.Operations, e)
			}
		}
	}
	if sec.At == "" || r.Method != http.MethodGet {
		return nil
	}
	at, err := parseInstant(sec.At)
	if err != nil {
		return err
	}
	sec.AtBalance, err = s.l.BalanceAt(ctx, p.ID, at)
	return err
}

func (s *server) formHold(w http.ResponseWriter, r *http.Request) {
	req := holdRequest{IdempotencyKey: r.PostFormValue("key"), Description: strings.TrimSpace(r.PostFormValue("description"))}
	var err error
	if req.Amount, err = formAmount(r, "amount"); err != nil {
		s.answer(w, r, "", err)
		return
	}
	if r.PostForm.Has("ttlMinutes") { // the field of older pages: refused, not read as the default
		s.answer(w, r, "", &apiError{http.StatusBadRequest, codeInvalidArgument,
			"ttlMinutes is gone: the hold's lifetime is ttlSeconds, as in the JSON API; reload the page"})
		return
	}
	secs, err := formInt(r, "ttlSeconds")
	if err != nil {
		s.answer(w, r, "", err)
		return
	}
	if secs != nil {
		if *secs < 1 || *secs > maxHoldSeconds {
			s.answer(w, r, "", &apiError{http.StatusBadRequest, codeInvalidArgument, fmt.Sprintf(
				"ttlSeconds %d is not from 1 to %d (empty: 900, 15 minutes)", *secs, maxHoldSeconds)})
			return
		}
		req.TTLSeconds = secs
	}
	h, err := s.hold(r.Context(), r.PathValue("id"), &req)
	if err != nil {
		s.answer(w, r, "", err)
		return
	}
	if h.Replayed {
		s.answer(w, r, "This form was already sent: nothing was written again (hold "+h.ID+").", nil)
		return
	}
	s.answer(w, r, fmt.Sprintf("Held %s credits until %s (hold %s).", h.Amount, h.ExpiresAt.UTC().Format("2006-01-02 15:04:05 MST"), h.ID), nil)
}

func (s *server) formCapture(w http.ResponseWriter, r *http.Request) {
	req := captureRequest{Description: strings.TrimSpace(r.PostFormValue("description"))}
	var err error
	if req.Amount, err = formAmount(r, "amount"); err != nil {
		s.answer(w, r, "", err)
		return
	}
	hold := r.PathValue("hold")
	rec, err := s.capture(r.Context(), r.PathValue("id"), hold, &req)
	if err != nil {
		s.answer(w, r, "", err)
		return
	}
	s.answer(w, r, receiptNotice("Captured "+req.Amount.String()+" credits of hold "+hold+" (the rest is released)", rec), nil)
}

func (s *server) formRelease(w http.ResponseWriter, r *http.Request) {
	h, err := s.release(r.Context(), r.PathValue("id"), r.PathValue("hold"))
	if err != nil {
		s.answer(w, r, "", err)
		return
	}
	s.answer(w, r, "Released hold "+h.ID+": its "+h.Amount.String()+" credits are back in their lots.", nil)
}

func (s *server) formReverse(w http.ResponseWriter, r *http.Request) {
	req := reverseRequest{
		OperationID:    strings.TrimSpace(r.PostFormValue("operation")),
		IdempotencyKey: r.PostFormValue("key"),
		Description:    strings.TrimSpace(r.PostFormValue("description")),
	}
	var err error
	if req.Amount, err = formAmount(r, "amount"); err != nil {
		s.answer(w, r, "", err)
		return
	}
	if req.OperationID == "" {
		s.answer(w, r, "", &apiError{http.StatusBadRequest, codeInvalidArgument, "choose the operation to reverse"})
		return
	}
	rec, err := s.reverse(r.Context(), r.PathValue("id"), &req)
	if err != nil {
		s.answer(w, r, "", err)
		return
	}
	if len(rec.Entries) == 0 {
		s.answer(w, r, "Nothing was left to reverse of operation "+req.OperationID+": nothing was written.", nil)
		return
	}
	moved := decimal.Zero
	for _, e := range rec.Entries {
		moved = moved.Add(e.Amount.Abs())
	}
	s.answer(w, r, receiptNotice("Reversed "+moved.String()+" credits of operation "+req.OperationID, rec), nil)
}
