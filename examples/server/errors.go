package main

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/creditledger/creditledger/ledger"
)

// Every error the JSON API answers has this shape (the cron endpoint keeps
// httpcron's own {"error":"unauthorized","code":"unauthorized"}, whose
// error is a string where MkSaaS's schedulers read it):
//
//	{"error":{"code":"insufficient_credits","message":"account \"u\" has 5 available, 10 asked"}}
//
// code is one of the constants below and never changes for a given
// condition; message is for people, names the value that was wrong, and
// may be reworded. Internals (store names, Go types, driver errors) never
// appear in it: the detail of a 500 goes to the log only.
const (
	codeUnauthorized        = "unauthorized"         // 401: missing or wrong Authorization: Bearer token
	codeInvalidJSON         = "invalid_json"         // 400: body empty, malformed, not UTF-8, not an object, unknown field, wrong type
	codeBodyTooLarge        = "body_too_large"       // 413
	codeInvalidAmount       = "invalid_amount"       // 400: ledger.ErrInvalidAmount, or an amount that is not a decimal
	codeInvalidArgument     = "invalid_argument"     // 400: ledger.ErrInvalidArgument, or a bad field, limit or cursor
	codeUnknownPlan         = "unknown_plan"         // 400: ledger.ErrUnknownPlan
	codeUnknownPack         = "unknown_pack"         // 400: ledger.ErrUnknownPack, a pack not in the catalog
	codeUnknownFeature      = "unknown_feature"      // 400: ledger.ErrUnknownFeature, a feature not in the catalog
	codeLotNotFound         = "lot_not_found"        // 404: a lot the account does not have open
	codeReservedSource      = "reserved_source"      // 400: a manual grant with a source the ledger writes itself
	codeInsufficientCredits = "insufficient_credits" // 402: ledger.ErrInsufficientCredits (also for an unknown account)
	codeIdempotencyConflict = "idempotency_conflict" // 409: ledger.ErrIdempotencyConflict
	codeAccountNotFound     = "account_not_found"    // 404: ledger.ErrNotFound on a read
	codeRouteNotFound       = "route_not_found"      // 404
	codeMethodNotAllowed    = "method_not_allowed"   // 405, with Allow
	codeUnavailable         = "unavailable"          // 503: the request was cancelled (client gone, shutdown)
	codeInternal            = "internal"             // 500: details in the log
)

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type errorJSON struct {
	Error errorBody `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorJSON{Error: errorBody{Code: code, Message: msg}})
}

// apiError is a request refused before the ledger was asked anything: its
// status, stable code and message for people.
type apiError struct {
	status    int
	code, msg string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

// refusal returns the status, code and public message of err when it is
// the caller's mistake: an *apiError, or one of the ledger's sentinels
// (ledgerError), or one a compiled-in feature knows. ok is false for
// anything else.
func (s *server) refusal(err error, account string) (status int, code, msg string, ok bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.code, ae.msg, true
	}
	for _, f := range s.features {
		if f.refusal != nil {
			if status, code, msg, ok := f.refusal(err, account); ok {
				return status, code, msg, true
			}
		}
	}
	return ledgerError(err, account)
}

// ledgerError maps an error of the ledger to its status, code and public
// message. ok is false for errors that are not the caller's mistake (the
// store failed, the request was cancelled): those get no public detail.
func ledgerError(err error, account string) (status int, code, msg string, ok bool) {
	switch {
	case errors.Is(err, ledger.ErrInsufficientCredits):
		// Before ErrNotFound: a consume on an account that was never
		// written to matches both, and for the caller it has no credits.
		if errors.Is(err, ledger.ErrNotFound) {
			return http.StatusPaymentRequired, codeInsufficientCredits,
				"insufficient credits: account " + strconv.Quote(account) + " has no credits", true
		}
		return http.StatusPaymentRequired, codeInsufficientCredits,
			"insufficient credits" + detail(err, ledger.ErrInsufficientCredits), true
	case errors.Is(err, ledger.ErrIdempotencyConflict):
		return http.StatusConflict, codeIdempotencyConflict,
			"idempotency key reused with other parameters" + detail(err, ledger.ErrIdempotencyConflict), true
	case errors.Is(err, ledger.ErrInvalidAmount):
		return http.StatusBadRequest, codeInvalidAmount, "invalid amount" + detail(err, ledger.ErrInvalidAmount), true
	case errors.Is(err, ledger.ErrUnknownPlan):
		return http.StatusBadRequest, codeUnknownPlan, "unknown plan" + detail(err, ledger.ErrUnknownPlan), true
	case errors.Is(err, ledger.ErrUnknownPack):
		// Before ErrNotFound, which it also matches (as in v0.2).
		return http.StatusBadRequest, codeUnknownPack, "unknown pack" + detail(err, ledger.ErrUnknownPack), true
	case errors.Is(err, ledger.ErrUnknownFeature):
		// Before ErrInvalidArgument, which it also matches.
		// The ledger says `unknown feature "video": not in the catalog`.
		msg := "unknown feature"
		if i := strings.Index(err.Error(), "unknown feature "); i >= 0 {
			msg = err.Error()[i:]
		}
		return http.StatusBadRequest, codeUnknownFeature, msg, true
	case errors.Is(err, ledger.ErrInvalidArgument):
		return http.StatusBadRequest, codeInvalidArgument, "invalid argument" + detail(err, ledger.ErrInvalidArgument), true
	case errors.Is(err, ledger.ErrNotFound):
		return http.StatusNotFound, codeAccountNotFound, "account " + strconv.Quote(account) + " not found", true
	}
	return 0, "", "", false
}

// detail returns ": " and what the ledger said about the value after
// sentinel ("creditledger: invalid amount: 10.5 has more than 0 decimal
// places" gives ": 10.5 has more than 0 decimal places"), or "" when it
// said nothing more. The ledger's own prefixes and any cause wrapped after
// the detail (a store's error) are left out.
func detail(err, sentinel error) string {
	msg := err.Error()
	prefix := sentinel.Error() + ": "
	i := strings.Index(msg, prefix)
	if i < 0 {
		return ""
	}
	d := msg[i+len(prefix):]
	for _, internal := range []string{": creditledger", ": bunstore", ": memory:", ": sql:", ": pgx", ": ERROR:"} {
		if j := strings.Index(d, internal); j >= 0 {
			d = d[:j]
		}
	}
	if d == "" {
		return ""
	}
	return ": " + d
}
