package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
)

// adminTokenEnv names the environment variable holding the bearer token
// that every route that writes requires (grant, consume, set plan). When
// it is unset or blank the server makes up a random token at start and
// prints it once to stderr, beside the demo cron credentials.
const adminTokenEnv = "CREDITLEDGER_ADMIN_TOKEN"

// adminAuth guards the routes that write with one bearer token. Reads stay
// open: the example serves the page and the balances to anyone who can
// reach it, which is fine on 127.0.0.1 and not on a public address.
type adminAuth struct {
	sum    [sha256.Size]byte // of the token: compared in constant time, whatever its length
	logger *slog.Logger
}

func newAdminAuth(token string, logger *slog.Logger) *adminAuth {
	return &adminAuth{sum: sha256.Sum256([]byte(token)), logger: logger}
}

// require wraps h: a request without "Authorization: Bearer <token>", or
// with another token, gets 401 with WWW-Authenticate and the JSON error
// code "unauthorized", and h does not run.
func (a *adminAuth) require(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, found := bearerToken(r.Header.Get("Authorization"))
		if !found {
			w.Header().Set("WWW-Authenticate", `Bearer realm="creditledger"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized,
				"this route writes: send Authorization: Bearer <token> (the "+adminTokenEnv+
					" the server was started with, or the token it printed at start)")
			return
		}
		if !a.check(token) {
			// Never the token itself in the log.
			a.logger.WarnContext(r.Context(), "wrong admin token", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="creditledger", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "the bearer token is not the admin token")
			return
		}
		h(w, r)
	}
}

// check reports whether token is the admin token, in constant time
// whatever its length (the console's login form uses it too).
func (a *adminAuth) check(token string) bool {
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], a.sum[:]) == 1
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme is case-insensitive, RFC 7235) and whether there was
// one.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
