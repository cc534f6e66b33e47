package httpcron_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/creditledger/creditledger/httpcron"
)

// FuzzAuthorizationHeader checks that no Authorization header makes the
// handler panic, and that exactly the headers carrying the right
// credentials get 200: the oracle is net/http's own Basic parser (scheme
// case-insensitive, value split at the first ':') and an exact
// "Bearer <token>" match; every other header gets 401.
func FuzzAuthorizationHeader(f *testing.F) {
	good := basic(testUser, testPass)
	for _, seed := range []string{
		good,
		"Bearer " + testToken,
		"bearer " + testToken,
		"BASIC " + strings.TrimPrefix(good, "Basic "),
		"",
		"Basic",
		"Basic ",
		"Basic Og==",
		"Basic " + base64.StdEncoding.EncodeToString([]byte(testUser)),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass+":")),
		"Basic " + base64.RawStdEncoding.EncodeToString([]byte(testUser+":"+testPass)),
		"Basic " + base64.URLEncoding.EncodeToString([]byte(testUser+":"+testPass)),
		"Basic  " + strings.TrimPrefix(good, "Basic "),
		good + " ",
		good + "\n",
		"Bearer",
		"Bearer ",
		"Bearer " + testToken + "x",
		"Bearer  " + testToken,
		"Basic \xff\xfe",
		"Basic ====",
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, header string) {
		h, runs := newHandler(t, func(o *httpcron.Options) { o.BearerToken = testToken })
		req := httptest.NewRequest(http.MethodGet, "/api/distribute-credits", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		user, pass, okBasic := req.BasicAuth()
		want := (okBasic && user == testUser && pass == testPass) ||
			(len(header) > len("Bearer ") &&
				strings.EqualFold(header[:len("Bearer ")], "Bearer ") &&
				header[len("Bearer "):] == testToken)
		if header == good || header == "Bearer "+testToken {
			want = true
		}

		switch {
		case want && rec.Code != http.StatusOK:
			t.Fatalf("header %q: got %d, want 200", header, rec.Code)
		case !want && rec.Code != http.StatusUnauthorized:
			t.Fatalf("header %q: got %d, want 401", header, rec.Code)
		case !want && runs.calls.Load() != 0:
			t.Fatalf("header %q: Run called without valid credentials", header)
		case !want && rec.Header().Get("WWW-Authenticate") != `Basic realm="Secure Area"`:
			t.Fatalf("header %q: missing WWW-Authenticate", header)
		}
	})
}
