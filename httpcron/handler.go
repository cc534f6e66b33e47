package httpcron

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/creditledger/creditledger/ledger"
)

// Defaults applied by [NewHandler] to zero-valued [Options] fields.
const (
	// DefaultBudget is the time a run is given when Options.Budget is zero:
	// 25 s, which leaves 5 s of a 30 s scheduler timeout (cron-job.org's)
	// for the network and for writing the response.
	DefaultBudget = 25 * time.Second
	// DefaultRealm is the realm sent in WWW-Authenticate when Options.Realm
	// is empty; it is the one the reference system sends.
	DefaultRealm = "Secure Area"
	// DefaultMaxBodyBytes is the most request-body bytes the handler reads
	// when Options.MaxBodyBytes is zero. The job takes no input; the body
	// is only drained so that the connection can be reused.
	DefaultMaxBodyBytes int64 = 4096
)

// Environment variables read by [OptionsFromEnv].
const (
	// EnvUsername holds the HTTP Basic username (the reference system's name).
	EnvUsername = "CRON_JOBS_USERNAME"
	// EnvPassword holds the HTTP Basic password (the reference system's name).
	EnvPassword = "CRON_JOBS_PASSWORD"
	// EnvToken holds an optional bearer token, for schedulers that send
	// "Authorization: Bearer <token>" instead of Basic credentials.
	EnvToken = "CRON_JOBS_TOKEN"
)

// Messages of the JSON error bodies, in the "error" field of [ErrorResponse].
const (
	// MsgUnauthorized answers 401: missing or wrong credentials.
	MsgUnauthorized = "unauthorized"
	// MsgMethodNotAllowed answers 405: a method other than GET or POST.
	MsgMethodNotAllowed = "method not allowed"
	// MsgInProgress answers 409: this handler is already running the job.
	MsgInProgress = "a distribution run is already in progress"
	// MsgRunFailed answers 500: Run failed; the detail is only logged.
	MsgRunFailed = "distribute credits failed"
)

// Codes of the JSON error bodies, in the "code" field of [ErrorResponse]:
// stable, for programs (the example server's JSON API uses the same words
// for the same conditions); the messages are for people.
const (
	// CodeUnauthorized goes with MsgUnauthorized (401).
	CodeUnauthorized = "unauthorized"
	// CodeMethodNotAllowed goes with MsgMethodNotAllowed (405).
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeInProgress goes with MsgInProgress (409).
	CodeInProgress = "run_in_progress"
	// CodeRunFailed goes with MsgRunFailed (500).
	CodeRunFailed = "run_failed"
)

// ErrNoCredentials is returned (wrapped, with what is missing) by
// [NewHandler] when the options leave no usable credential: nil options,
// neither a Username/Password pair nor a BearerToken, or only one half of
// the Username/Password pair. The handler fails closed: it is never built
// without a credential. Test with errors.Is.
var ErrNoCredentials = errors.New("httpcron: no credentials configured")

// ErrInvalidOptions is returned (wrapped, with the reason) by [NewHandler]
// for options that are unusable for another reason than missing
// credentials: a nil Run, a negative Budget or MaxBodyBytes, a Username
// that contains ':' (it could never match a Basic header), or a Realm
// with control characters. Test with errors.Is.
var ErrInvalidOptions = errors.New("httpcron: invalid options")

// Options configure [NewHandler]. The zero value is not usable: at least a
// credential and Run must be set.
type Options struct {
	// Username and Password are the HTTP Basic credentials a request must
	// carry. Both set, or both empty (then BearerToken must be set); one
	// without the other is an error wrapping [ErrNoCredentials]. The
	// username must not contain ':'; the password may.
	Username, Password string
	// BearerToken, when not empty, is also accepted as
	// "Authorization: Bearer <token>" (the scheme is matched without regard
	// to case; the token exactly). Empty: Bearer headers are refused.
	BearerToken string

	// Run does one distribution run. Required. The handler calls it with a
	// context derived from the request's, with a deadline Budget away, and
	// at most one call per handler at a time. Hosts typically write
	//
	//	Run: func(ctx context.Context) (*ledger.DistributeResult, error) {
	//		return l.Distribute(ctx, &ledger.DistributeOpts{})
	//	},
	//
	// and let the deadline bound the run: Distribute starts no chunk it
	// cannot finish before the deadline and returns Complete: false.
	// A non-nil error, or a nil result with a nil error, answers 500.
	Run func(ctx context.Context) (*ledger.DistributeResult, error)

	// Budget is how long a run may take: Run's context has the deadline
	// now+Budget (or the request context's, if earlier). Zero: DefaultBudget
	// (25 s). Negative: an error wrapping [ErrInvalidOptions].
	Budget time.Duration

	// Logger receives one Info record per run (counts and duration), Error
	// records for failed runs and Warn records for refused requests. No
	// record ever holds a credential or the Authorization header. Nil:
	// slog.Default().
	Logger *slog.Logger

	// Realm is the realm of the WWW-Authenticate header of 401 answers.
	// Empty: DefaultRealm ("Secure Area").
	Realm string

	// MaxBodyBytes is the most request-body bytes the handler reads (the
	// body is ignored; it is drained up to this limit and no further).
	// Zero: DefaultMaxBodyBytes (4096). Negative: an error wrapping
	// [ErrInvalidOptions].
	MaxBodyBytes int64
}

// OptionsFromEnv returns Options with Username from CRON_JOBS_USERNAME,
// Password from CRON_JOBS_PASSWORD and BearerToken from CRON_JOBS_TOKEN
// (each empty when unset). The other fields are zero: the caller sets Run
// (and, if it likes, Logger or Budget) before calling [NewHandler]. When
// the variables are unset, NewHandler fails with [ErrNoCredentials], so a
// deployment that forgot them refuses to start instead of running open.
func OptionsFromEnv() *Options {
	return &Options{
		Username:    os.Getenv(EnvUsername),
		Password:    os.Getenv(EnvPassword),
		BearerToken: os.Getenv(EnvToken),
	}
}

// Response is the JSON body of a successful (200) answer. It is a superset
// of the reference system's body: Message, UsersCount, ProcessedCount and
// ErrorCount keep its field names, so existing monitors keep working.
// Unlike the reference, what the run did is reported too: lots and credits
// granted and expired, whether it finished, and how long it took.
type Response struct {
	// Message is "distribute credits success, users: U, processed: P, errors: E".
	Message string `json:"message"`
	// UsersCount is the number of accounts examined (DistributeResult.Accounts).
	UsersCount int `json:"usersCount"`
	// ProcessedCount is the number of accounts done without error.
	ProcessedCount int `json:"processedCount"`
	// ErrorCount is the number of accounts that failed (see the log).
	ErrorCount int `json:"errorCount"`
	// GrantedCount is the number of lots granted by the run.
	GrantedCount int `json:"grantedCount"`
	// ExpiredCount is the number of lots expired by the run.
	ExpiredCount int `json:"expiredCount"`
	// GrantedCredits is the credits granted, as a decimal string ("1000").
	GrantedCredits string `json:"grantedCredits"`
	// ExpiredCredits is the credits expired, as a decimal string.
	ExpiredCredits string `json:"expiredCredits"`
	// Complete is false when the budget stopped the run with work left;
	// the next call goes on where this one stopped.
	Complete bool `json:"complete"`
	// DurationMs is the run's duration in milliseconds: the result's
	// Duration, or, when Run left it zero, the time measured around Run.
	DurationMs int64 `json:"durationMs"`
}

// ErrorResponse is the JSON body of every non-200 answer:
// {"error":"unauthorized","code":"unauthorized"}. Error is one of the Msg
// constants, a string where the reference system's schedulers and
// monitors read it; Code is the matching Code constant.
type ErrorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

type handler struct {
	run      func(ctx context.Context) (*ledger.DistributeResult, error)
	budget   time.Duration
	logger   *slog.Logger
	maxBody  int64
	wwwAuth  string
	running  atomic.Bool
	basicOK  bool
	userSum  [sha256.Size]byte
	passSum  [sha256.Size]byte
	bearerOK bool
	tokenSum [sha256.Size]byte
}

// NewHandler returns the http.Handler of the distribution cron endpoint,
// to be mounted by the host, e.g. mux.Handle("/api/distribute-credits", h).
// It serves any path it is mounted on.
//
// Errors: nil opts or no usable credential wrap [ErrNoCredentials]; a nil
// Run and other unusable fields wrap [ErrInvalidOptions]. See [Options] for
// the defaults of zero fields. The returned handler is safe for
// concurrent use and runs at most one Run at a time.
func NewHandler(opts *Options) (http.Handler, error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: options are nil", ErrNoCredentials)
	}
	switch {
	case opts.Username != "" && opts.Password == "":
		return nil, fmt.Errorf("%w: Username is set but Password is empty", ErrNoCredentials)
	case opts.Username == "" && opts.Password != "":
		return nil, fmt.Errorf("%w: Password is set but Username is empty", ErrNoCredentials)
	case opts.Username == "" && opts.BearerToken == "":
		return nil, fmt.Errorf("%w: Username and Password are empty and no BearerToken is set", ErrNoCredentials)
	}
	if strings.Contains(opts.Username, ":") {
		return nil, fmt.Errorf("%w: Username contains ':', which HTTP Basic cannot carry", ErrInvalidOptions)
	}
	if opts.Run == nil {
		return nil, fmt.Errorf("%w: Run is nil", ErrInvalidOptions)
	}
	if opts.Budget < 0 {
		return nil, fmt.Errorf("%w: Budget %v is negative", ErrInvalidOptions, opts.Budget)
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("%w: MaxBodyBytes %d is negative", ErrInvalidOptions, opts.MaxBodyBytes)
	}
	realm := opts.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; c < 0x20 || c == 0x7f {
			return nil, fmt.Errorf("%w: Realm contains a control character", ErrInvalidOptions)
		}
	}

	h := &handler{
		run:     opts.Run,
		budget:  opts.Budget,
		logger:  opts.Logger,
		maxBody: opts.MaxBodyBytes,
		wwwAuth: `Basic realm="` + quoteEscape(realm) + `"`,
	}
	if h.budget == 0 {
		h.budget = DefaultBudget
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if opts.Username != "" {
		h.basicOK = true
		h.userSum = sha256.Sum256([]byte(opts.Username))
		h.passSum = sha256.Sum256([]byte(opts.Password))
	}
	if opts.BearerToken != "" {
		h.bearerOK = true
		h.tokenSum = sha256.Sum256([]byte(opts.BearerToken))
	}
	return h, nil
}

// quoteEscape escapes '\' and '"' for an HTTP quoted-string.
func quoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// ServeHTTP checks the credentials first (so that an unauthenticated probe
// learns nothing, not even which methods exist), then the method, then
// runs the job.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r.Header.Get("Authorization")) {
		// Never log the header or any part of it.
		h.logger.LogAttrs(r.Context(), slog.LevelWarn, "httpcron: unauthorized request",
			slog.String("method", r.Method), slog.String("remote_addr", r.RemoteAddr))
		w.Header().Set("WWW-Authenticate", h.wwwAuth)
		writeJSON(w, http.StatusUnauthorized, ErrorResponse{Error: MsgUnauthorized, Code: CodeUnauthorized})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: MsgMethodNotAllowed, Code: CodeMethodNotAllowed})
		return
	}
	h.drainBody(w, r)

	if !h.running.CompareAndSwap(false, true) {
		h.logger.LogAttrs(r.Context(), slog.LevelWarn, "httpcron: run refused, another run is in progress",
			slog.String("remote_addr", r.RemoteAddr))
		writeJSON(w, http.StatusConflict, ErrorResponse{Error: MsgInProgress, Code: CodeInProgress})
		return
	}
	defer h.running.Store(false)

	ctx, cancel := context.WithTimeout(r.Context(), h.budget)
	defer cancel()
	start := time.Now()
	res, err := h.safeRun(ctx)
	elapsed := time.Since(start)
	if err == nil && res == nil {
		err = errors.New("Run returned a nil result and a nil error")
	}
	if err != nil {
		h.logger.LogAttrs(r.Context(), slog.LevelError, "httpcron: distribute credits failed",
			slog.String("error", err.Error()), slog.Duration("elapsed", elapsed))
		writeJSON(w, http.StatusInternalServerError, ErrorResponse{Error: MsgRunFailed, Code: CodeRunFailed})
		return
	}

	dur := res.Duration
	if dur <= 0 {
		dur = elapsed
	}
	h.logger.LogAttrs(r.Context(), slog.LevelInfo, "httpcron: distribute credits done",
		slog.Int("accounts", res.Accounts),
		slog.Int("processed", res.Processed),
		slog.Int("errors", res.Errors),
		slog.Int("granted", res.Granted),
		slog.Int("expired", res.Expired),
		slog.String("granted_credits", res.GrantedCredits.String()),
		slog.String("expired_credits", res.ExpiredCredits.String()),
		slog.Bool("complete", res.Complete),
		slog.Duration("duration", dur))
	writeJSON(w, http.StatusOK, Response{
		Message: "distribute credits success, users: " + strconv.Itoa(res.Accounts) +
			", processed: " + strconv.Itoa(res.Processed) +
			", errors: " + strconv.Itoa(res.Errors),
		UsersCount:     res.Accounts,
		ProcessedCount: res.Processed,
		ErrorCount:     res.Errors,
		GrantedCount:   res.Granted,
		ExpiredCount:   res.Expired,
		GrantedCredits: res.GrantedCredits.String(),
		ExpiredCredits: res.ExpiredCredits.String(),
		Complete:       res.Complete,
		DurationMs:     dur.Milliseconds(),
	})
}

// safeRun calls Run and turns a panic into an error, so that a panicking
// Run answers 500 and releases the in-progress flag.
func (h *handler) safeRun(ctx context.Context) (res *ledger.DistributeResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("Run panicked: %v", p)
		}
	}()
	return h.run(ctx)
}

// drainBody reads at most maxBody bytes of the (ignored) request body, so
// that a small body does not spoil keep-alive and a huge one is never
// read in full.
func (h *handler) drainBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	// CopyN never asks the MaxBytesReader for more than the remaining
	// limit, so the underlying body yields at most maxBody bytes. What is
	// left of a larger body is net/http's business: it discards a little
	// to keep the connection alive, or closes it.
	_, _ = io.CopyN(io.Discard, r.Body, h.maxBody)
}

// authorized reports whether the Authorization header value carries the
// configured Basic credentials or bearer token. Digests of equal length are
// compared with crypto/subtle, and both halves of a Basic pair are always
// compared, so the time taken reveals neither the lengths nor which half
// was wrong.
func (h *handler) authorized(header string) bool {
	if rest, ok := cutScheme(header, "Basic"); ok {
		if !h.basicOK {
			return false
		}
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return false
		}
		user, pass, ok := strings.Cut(string(raw), ":") // first ':' only
		if !ok {
			return false
		}
		us := sha256.Sum256([]byte(user))
		ps := sha256.Sum256([]byte(pass))
		u := subtle.ConstantTimeCompare(us[:], h.userSum[:])
		p := subtle.ConstantTimeCompare(ps[:], h.passSum[:])
		return u&p == 1
	}
	if rest, ok := cutScheme(header, "Bearer"); ok {
		if !h.bearerOK {
			return false
		}
		ts := sha256.Sum256([]byte(rest))
		return subtle.ConstantTimeCompare(ts[:], h.tokenSum[:]) == 1
	}
	return false
}

// cutScheme reports whether header starts with scheme (ASCII
// case-insensitive) followed by one space, and returns what follows.
func cutScheme(header, scheme string) (rest string, ok bool) {
	n := len(scheme)
	if len(header) < n+1 || header[n] != ' ' {
		return "", false
	}
	for i := 0; i < n; i++ {
		if lower(header[i]) != lower(scheme[i]) {
			return "", false
		}
	}
	return header[n+1:], true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// writeJSON writes v as the JSON body with the given status, and headers
// that keep the answer out of caches.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // not reached with the types used here
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error"}`)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
