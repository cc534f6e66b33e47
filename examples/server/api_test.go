package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
)

// startAPI starts a server on a fresh SQLite file with one demo account
// per plan and the admin token set.
func startAPI(t *testing.T) *testServer {
	t.Helper()
	t.Setenv("CREDITLEDGER_ADMIN_TOKEN", adminToken)
	t.Setenv("CRON_JOBS_USERNAME", cronUser)
	t.Setenv("CRON_JOBS_PASSWORD", cronPass)
	t.Setenv("CRON_JOBS_TOKEN", "")
	return start(t, "-db", testdb.SQLitePath(t), "-seed", "1")
}

// Every route that writes refuses a request without the admin token, or
// with another one, with 401 "unauthorized" and writes nothing; reads
// need no token.
func TestAdminTokenGuardsWrites(t *testing.T) {
	srv := startAPI(t)
	base := srv.base
	writes := []struct{ method, path, body string }{
		{http.MethodPost, "/api/accounts/demo-free-1/consume", `{"amount":"10"}`},
		{http.MethodPost, "/api/accounts/demo-free-1/grant", `{"amount":"1000000","idempotencyKey":"free-money"}`},
		{http.MethodPost, "/api/accounts/demo-free-1/grant", `{"pack":"enterprise","idempotencyKey":"free-pack"}`},
		{http.MethodPost, "/api/accounts/attacker/grant", `{"amount":"1000000","idempotencyKey":"new-account"}`},
		{http.MethodPut, "/api/accounts/demo-free-1/plan", `{"plan":"lifetime"}`},
		{http.MethodPut, "/api/accounts/attacker/plan", `{"plan":"lifetime"}`},
	}
	headers := map[string]string{
		"no header":        "",
		"wrong token":      "Bearer not-the-token",
		"token prefix":     "Bearer " + adminToken[:len(adminToken)-1],
		"token plus":       "Bearer " + adminToken + "x",
		"basic scheme":     "Basic " + adminToken,
		"no scheme":        adminToken,
		"empty bearer":     "Bearer ",
		"cron credentials": "Basic Y3Jvbi1lMmU6czNjcmV0OndpdGgtY29sb24=", // cron-e2e:s3cret:with-colon
	}
	before := available(t, base, "demo-free-1")
	entries := entryCount(t, base, "demo-free-1")
	for _, wr := range writes {
		for name, h := range headers {
			req, err := http.NewRequest(wr.method, base+wr.path, strings.NewReader(wr.body))
			require.NoError(t, err)
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			b := readAll(t, resp)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s with %s: %s", wr.method, wr.path, name, b)
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			code, msg := errorOf(t, b)
			require.Equal(t, "unauthorized", code)
			if h == "" {
				require.Contains(t, msg, "Authorization: Bearer <token>")
				require.Contains(t, msg, "CREDITLEDGER_ADMIN_TOKEN")
			}
		}
	}
	require.Equal(t, before, available(t, base, "demo-free-1"), "no refused write changed the balance")
	require.Equal(t, entries, entryCount(t, base, "demo-free-1"), "no refused write wrote an entry")
	bal := callJSON(t, http.StatusOK, http.MethodGet, base+"/api/accounts/demo-free-1", "")
	require.Equal(t, "free", bal["plan"], "no refused write changed the plan")
	callError(t, http.StatusNotFound, "account_not_found", http.MethodGet, base+"/api/accounts/attacker", "")

	// The scheme is case-insensitive; with the token each write works.
	out := callJSON(t, http.StatusOK, http.MethodPost, base+"/api/accounts/demo-free-1/consume", `{"amount":"10"}`, adminToken)
	require.Equal(t, "190", out["balance"])
	status, _, b := callWithHeader(t, http.MethodPost, base+"/api/accounts/demo-free-1/consume", `{"amount":"10"}`, "bearer "+adminToken)
	require.Equal(t, http.StatusOK, status, "%s", b)
	callJSON(t, http.StatusOK, http.MethodPut, base+"/api/accounts/demo-free-1/plan", `{"plan":"lifetime"}`, adminToken)

	// Reads and the page stay open.
	callJSON(t, http.StatusOK, http.MethodGet, base+"/api/accounts/demo-free-1/entries", "")
	status, _, _ = call(t, http.MethodGet, base+"/", "")
	require.Equal(t, http.StatusOK, status)

	srv.stop()
	require.NotContains(t, srv.stderr.String(), adminToken[:12], "no token, right or wrong, in the log")
	require.Contains(t, srv.stderr.String(), "wrong admin token")
}

// Error answers have a stable code and a message that names what was
// wrong, without the store's or Go's words.
func TestErrorBodies(t *testing.T) {
	srv := startAPI(t)
	base := srv.base
	consume := base + "/api/accounts/demo-free-1/consume"
	for _, tc := range []struct {
		name, method, url, body string
		status                  int
		code                    string
		want                    []string // in the message
	}{
		{"unknown account consume", http.MethodPost, base + "/api/accounts/nobody/consume", `{"amount":"1"}`,
			http.StatusPaymentRequired, "insufficient_credits", []string{"insufficient credits", `"nobody"`, "no credits"}},
		{"insufficient", http.MethodPost, consume, `{"amount":"100000"}`,
			http.StatusPaymentRequired, "insufficient_credits", []string{`"demo-free-1" has 200 available, 100000 asked`}},
		{"unknown account read", http.MethodGet, base + "/api/accounts/nobody", "",
			http.StatusNotFound, "account_not_found", []string{`account "nobody" not found`}},
		{"unknown account entries", http.MethodGet, base + "/api/accounts/nobody/entries", "",
			http.StatusNotFound, "account_not_found", []string{`account "nobody" not found`}},
		{"not an object", http.MethodPost, consume, `"10"`,
			http.StatusBadRequest, "invalid_json", []string{"must be a JSON object, not a string"}},
		{"array", http.MethodPost, consume, `[1]`,
			http.StatusBadRequest, "invalid_json", []string{"must be a JSON object, not an array"}},
		{"field type", http.MethodPost, consume, `{"amount":"1","description":7}`,
			http.StatusBadRequest, "invalid_json", []string{"field description must be a string, not a number"}},
		{"metadata type", http.MethodPost, consume, `{"amount":"1","metadata":{"a":1}}`,
			http.StatusBadRequest, "invalid_json", []string{"must be a string, not a number"}},
		{"unknown field", http.MethodPost, consume, `{"amount":"1","amuont":"1"}`,
			http.StatusBadRequest, "invalid_json", []string{`unknown field "amuont"`}},
		{"too precise", http.MethodPost, consume, `{"amount":"1.5"}`,
			http.StatusBadRequest, "invalid_amount", []string{"1.5"}},
		{"not a decimal", http.MethodPost, consume, `{"amount":"ten"}`,
			http.StatusBadRequest, "invalid_amount", []string{`"ten"`}},
		{"reserved key", http.MethodPost, consume, `{"amount":"1","idempotencyKey":"creditledger:x"}`,
			http.StatusBadRequest, "invalid_argument", []string{`"creditledger:x"`, "reserved"}},
		{"key reused", http.MethodPost, base + "/api/accounts/demo-free-1/grant", `{"pack":"standard","idempotencyKey":"demo-seed:demo-free-1:basic"}`,
			http.StatusConflict, "idempotency_conflict", []string{`"demo-seed:demo-free-1:basic"`}},
		{"bad expiry time", http.MethodPost, base + "/api/accounts/demo-free-1/grant", `{"amount":"1","idempotencyKey":"t","expiresAt":"tomorrow"}`,
			http.StatusBadRequest, "invalid_argument", []string{"RFC 3339", `"tomorrow"`}},
		{"past expiry", http.MethodPost, base + "/api/accounts/demo-free-1/grant", `{"amount":"1","idempotencyKey":"t","expiresAt":"2001-01-01T00:00:00Z"}`,
			http.StatusBadRequest, "invalid_argument", []string{"2001-01-01T00:00:00Z", "not after now"}},
		{"expiry past what the stores hold", http.MethodPost, base + "/api/accounts/demo-free-1/grant", `{"amount":"1","idempotencyKey":"t","expiresAt":"9999-12-31T23:59:59-05:00"}`,
			http.StatusBadRequest, "invalid_argument", []string{"10000-01-01T04:59:59Z"}},
		{"expiresInDays", http.MethodPost, base + "/api/accounts/demo-free-1/grant", `{"amount":"1","idempotencyKey":"t","expiresInDays":99999}`,
			http.StatusBadRequest, "invalid_argument", []string{"99999"}},
		{"unknown plan", http.MethodPut, base + "/api/accounts/demo-free-1/plan", `{"plan":"platinum"}`,
			http.StatusBadRequest, "unknown_plan", []string{`"platinum"`, "free, pro_monthly, pro_yearly, lifetime"}},
		{"unknown pack", http.MethodPost, base + "/api/accounts/demo-free-1/grant", `{"pack":"gold","idempotencyKey":"p"}`,
			http.StatusBadRequest, "unknown_pack", []string{`"gold"`, "basic, standard, premium, enterprise"}},
		{"bad anchor", http.MethodPut, base + "/api/accounts/demo-free-1/plan", `{"plan":"free","anchor":7}`,
			http.StatusBadRequest, "invalid_argument", []string{"RFC 3339", "7"}},
		{"route", http.MethodGet, base + "/api/nothing", "",
			http.StatusNotFound, "route_not_found", []string{"/api/nothing"}},
		{"method", http.MethodDelete, consume, "",
			http.StatusMethodNotAllowed, "method_not_allowed", []string{"DELETE", "POST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := callError(t, tc.status, tc.code, tc.method, tc.url, tc.body, adminToken)
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
		})
	}
	require.Equal(t, "200", available(t, base, "demo-free-1"), "no refused call spent or granted")
}

// A limit out of range is refused with the value the caller sent, 0
// included (the ledger reads 0 as its default).
func TestEntriesLimitNamesValue(t *testing.T) {
	srv := startAPI(t)
	entries := srv.base + "/api/accounts/demo-free-1/entries"
	for _, v := range []string{"0", "-1", "1001", "x", "", "1e3", "99999999999999999999"} {
		msg := callError(t, http.StatusBadRequest, "invalid_argument", http.MethodGet, entries+"?limit="+v, "")
		require.Contains(t, msg, `limit "`+v+`"`)
		require.Contains(t, msg, "1 to 1000")
	}
	for _, v := range []string{"1", "1000"} {
		out := callJSON(t, http.StatusOK, http.MethodGet, entries+"?limit="+v, "")
		require.NotEmpty(t, out["entries"])
	}
	out := callJSON(t, http.StatusOK, http.MethodGet, entries+"?limit=1", "")
	require.Len(t, out["entries"], 1)
}

// The page shows a far expiry as a date, lets a 255-byte account id wrap,
// and has a viewport for phones.
func TestPageFarExpiryAndLongIDs(t *testing.T) {
	srv := startAPI(t)
	base := srv.base
	longID := strings.Repeat("x", 255)
	callJSON(t, http.StatusOK, http.MethodPost, base+"/api/accounts/"+longID+"/grant",
		`{"amount":"7","idempotencyKey":"far","expiresAt":"2200-01-01T00:00:00Z"}`, adminToken)
	callJSON(t, http.StatusOK, http.MethodPost, base+"/api/accounts/soon/grant",
		`{"amount":"3","idempotencyKey":"soon","expiresInDays":3}`, adminToken)
	status, _, b := call(t, http.MethodGet, base+"/", "")
	require.Equal(t, http.StatusOK, status)
	page := string(b)
	require.Contains(t, page, `<meta name="viewport" content="width=device-width, initial-scale=1">`)
	require.Contains(t, page, "expires 2200-01-01 00:00 UTC")
	require.NotContains(t, page, "106751d", "no saturated duration")
	require.Regexp(t, `expires 20[0-9-]+ [0-9:]+ UTC \(in 2d 23h\)`, page, "a near expiry keeps its countdown")
	require.Contains(t, page, `<td class="id"><a href="/accounts/`+longID+`"><code>`+longID+`</code>`)
	require.Regexp(t, `td\.id \{[^}]*word-break: break-all`, page, "account ids break anywhere")
	require.Regexp(t, `td\.id \{[^}]*overflow-wrap: anywhere`, page)
}

// A manual grant cannot claim to be a plan's or the signup gift's grant;
// packs are granted by id, and other sources work.
func TestGrantRefusesLedgerSources(t *testing.T) {
	srv := startAPI(t)
	base := srv.base
	grant := base + "/api/accounts/demo-free-1/grant"
	for i, src := range []string{"monthly_refresh", "register_gift", "subscription_renewal", "lifetime_monthly",
		"Monthly_Refresh", " register_gift "} {
		body := `{"amount":"50","idempotencyKey":"r` + string(rune('a'+i)) + `","source":"` + src + `"}`
		msg := callError(t, http.StatusBadRequest, "reserved_source", http.MethodPost, grant, body, adminToken)
		require.Contains(t, msg, `"`+src+`"`)
	}
	// A new account is not created by a refused grant either.
	callError(t, http.StatusBadRequest, "reserved_source", http.MethodPost, base+"/api/accounts/fresh/grant",
		`{"amount":"50","idempotencyKey":"g","source":"register_gift"}`, adminToken)
	callError(t, http.StatusNotFound, "account_not_found", http.MethodGet, base+"/api/accounts/fresh", "")
	require.Equal(t, "200", available(t, base, "demo-free-1"))

	out := callJSON(t, http.StatusOK, http.MethodPost, grant, `{"amount":"5","idempotencyKey":"ok","source":"support_refund"}`, adminToken)
	require.Equal(t, "205", out["balance"])
	out = callJSON(t, http.StatusOK, http.MethodPost, grant, `{"pack":"basic","idempotencyKey":"pack"}`, adminToken)
	require.Equal(t, "305", out["balance"])
	entries := out["entries"].([]any)
	require.Equal(t, "purchase_package", entries[0].(map[string]any)["source"])
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// callWithHeader is call with a raw Authorization header.
func callWithHeader(t *testing.T, method, url, body, authorization string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", authorization)
	resp, err := client.Do(req)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, readAll(t, resp)
}

// A JSON body that is not UTF-8, or whose escapes are half a surrogate
// pair, is refused with 400 invalid_json and writes nothing: the decoder
// would read both "inv-\xff" and "inv-\xfe" as "inv-\uFFFD", one key, and
// answer the second, different grant as a replay of the first.
func TestJSONBodyMustBeUTF8(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	grant := e.srv.URL + "/api/accounts/demo-free-1/grant"
	entries := e.entries(t, "demo-free-1")
	// bad is where the message must point: its first byte's offset.
	for _, tc := range []struct{ name, body, bad string }{
		{"0xff in a key", "{\"amount\":\"10\",\"idempotencyKey\":\"inv-\xff\"}", "\xff"},
		{"0xfe in a key", "{\"amount\":\"20\",\"idempotencyKey\":\"inv-\xfe\"}", "\xfe"},
		{"cut sequence", "{\"amount\":\"10\",\"description\":\"caf\xc3\",\"idempotencyKey\":\"k1\"}", "\xc3"},
		{"overlong slash", "{\"amount\":\"10\",\"idempotencyKey\":\"a\xc0\xafb\"}", "\xc0"},
		{"in a metadata key", "{\"amount\":\"10\",\"idempotencyKey\":\"k2\",\"metadata\":{\"\xff\":\"x\"}}", "\xff"},
		{"lone high surrogate", `{"amount":"10","idempotencyKey":"inv-\ud800"}`, `\ud800`},
		{"lone low surrogate", `{"amount":"10","idempotencyKey":"inv-\udc00"}`, `\udc00`},
		{"high then not low", `{"amount":"10","idempotencyKey":"inv-\ud800\u0041"}`, `\ud800`},
		{"high at the end", `{"amount":"10","idempotencyKey":"inv-\ud800`, `\ud800`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := callError(t, http.StatusBadRequest, "invalid_json", http.MethodPost, grant, tc.body, adminToken)
			require.Contains(t, msg, "not valid UTF-8")
			require.Contains(t, msg, fmt.Sprintf("byte %d ", strings.Index(tc.body, tc.bad)))
		})
	}
	require.Equal(t, entries, e.entries(t, "demo-free-1"), "no refused body wrote an entry")
	require.Equal(t, "200", e.available(t, "demo-free-1"))

	// What is UTF-8 passes: a pair of escapes, an escaped backslash before
	// a "u", and a U+FFFD the client sent itself, escaped or not (one key).
	out := callJSON(t, http.StatusOK, http.MethodPost, grant, `{"amount":"1","idempotencyKey":"emoji-\ud83d\ude00"}`, adminToken)
	require.Equal(t, false, out["replayed"])
	out = callJSON(t, http.StatusOK, http.MethodPost, grant, `{"amount":"1","idempotencyKey":"emoji-😀"}`, adminToken)
	require.Equal(t, true, out["replayed"], "the escaped and the raw emoji are the same key")
	out = callJSON(t, http.StatusOK, http.MethodPost, grant, `{"amount":"1","idempotencyKey":"path\\ud800"}`, adminToken)
	require.Equal(t, false, out["replayed"])
	out = callJSON(t, http.StatusOK, http.MethodPost, grant, `{"amount":"1","idempotencyKey":"fffd-\ufffd"}`, adminToken)
	require.Equal(t, false, out["replayed"])
	out = callJSON(t, http.StatusOK, http.MethodPost, grant, "{\"amount\":\"1\",\"idempotencyKey\":\"fffd-\uFFFD\"}", adminToken)
	require.Equal(t, true, out["replayed"])
	require.Equal(t, "203", e.available(t, "demo-free-1"))
}

// The cron endpoint's errors carry a code as the API's do, and keep the
// message as a string in "error", where MkSaaS's schedulers read it.
func TestCronErrorBodyHasCode(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	cron := e.srv.URL + "/api/distribute-credits"
	status, h, b := call(t, http.MethodGet, cron, "")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.JSONEq(t, `{"error":"unauthorized","code":"unauthorized"}`, string(b))
	status, _, b = call(t, http.MethodDelete, cron, "", cronUser, cronPass)
	require.Equal(t, http.StatusMethodNotAllowed, status)
	require.JSONEq(t, `{"error":"method not allowed","code":"method_not_allowed"}`, string(b))
}
