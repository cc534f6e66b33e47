package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/id"
	"github.com/creditledger/creditledger/ledger"
)

// holdsBrowserStep is the holds feature's step of the browser test:
// demo-free-1 has 295 available; hold 20, capture 15.
func holdsBrowserStep(t *testing.T, ctx context.Context, textOf func(string) string) {
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		require.NoError(t, chromedp.Run(ctx, actions...), what)
	}
	require.Equal(t, "0", textOf(`#held`))
	step("hold",
		chromedp.SendKeys(`#hold-amount`, "20", chromedp.ByQuery),
		chromedp.SendKeys(`#hold-description`, "an AI call", chromedp.ByQuery),
		submit(`#hold button`),
		chromedp.WaitVisible(`#flash-notice`, chromedp.ByQuery))
	require.Contains(t, textOf(`#flash-notice`), "Held 20 credits until")
	require.Equal(t, "275", textOf(`#available`))
	require.Equal(t, "20", textOf(`#held`))
	require.Contains(t, textOf(`#holds tbody`), "(in 14m)")
	step("capture",
		chromedp.SetValue(`#holds .capture-amount`, "15", chromedp.ByQuery),
		submit(`#holds .capture-button`),
		chromedp.WaitVisible(`#flash-notice`, chromedp.ByQuery))
	require.Contains(t, textOf(`#flash-notice`), "Captured 15 credits")
	require.Equal(t, "280", textOf(`#available`))
	require.Equal(t, "0", textOf(`#held`))
	require.Contains(t, textOf(`#holds tbody`), "No active hold.")
	hist := textOf(`#history tbody`)
	require.Contains(t, hist, "capture")
	require.Contains(t, hist, "release")
	require.Contains(t, hist, "hold")
}

// Holds, captures, releases and reversals through the forms: each shows
// the new state, or why it refused with nothing written.
func TestConsoleHolds(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	b := e.browser(t)
	csrf := b.login()
	acct := "/accounts/demo-free-1"
	start := time.Now().UTC()

	_, page := b.get(acct)
	require.Equal(t, "0", text(t, page, "held"))
	require.Contains(t, page, "No active hold.")

	// The form's lifetime is in seconds, as the JSON API's ttlSeconds.
	require.Contains(t, page, `name="ttlSeconds"`)
	status, _, page := b.post(acct+"/hold", "csrf", csrf, "key", "h1", "amount", "20", "ttlSeconds", "600")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "180", text(t, page, "available"))
	require.Equal(t, "20", text(t, page, "held"))
	require.Contains(t, page, "(in 9m)")
	hs, err := e.l.Holds(context.Background(), "demo-free-1")
	require.NoError(t, err)
	require.Len(t, hs, 1)
	require.Equal(t, 600*time.Second, hs[0].ExpiresAt.Sub(hs[0].CreatedAt), "600 seconds")
	_, page = b.get("/")
	require.Equal(t, "20", text(t, page, "total-held"))
	require.Regexp(t, `demo-free-1</code></a></td>\s*<td>free</td>\s*<td class="num">180</td>\s*<td class="num">20</td>`, page)

	n := e.entries(t, "demo-free-1")
	for _, tc := range []struct {
		path   string
		fields []string
		status int
		msg    string
	}{
		{"/hold", []string{"amount", "1000"}, 402, "insufficient_credits"},
		{"/hold", []string{"amount", "5", "ttlSeconds", "86401"}, 400, "ttlSeconds 86401 is not from 1 to 86400"},
		{"/hold", []string{"amount", "5", "ttlSeconds", "0"}, 400, "ttlSeconds 0 is not from 1 to 86400"},
		{"/hold", []string{"amount", "5", "ttlMinutes", "10"}, 400, "ttlMinutes is gone"},
		{"/hold", []string{"amount", "x"}, 400, "invalid_amount"},
		{"/reverse", []string{"operation", ""}, 400, "choose the operation to reverse"},
		{"/reverse", []string{"operation", "nope"}, 404, `no operation nope on account "demo-free-1" (operation_not_found)`},
	} {
		status, _, page := b.post(acct+tc.path, append([]string{"csrf", csrf, "key", "bad"}, tc.fields...)...)
		require.Equal(t, tc.status, status, "%v", tc.fields)
		require.Contains(t, text(t, page, "flash-error"), tc.msg)
		require.Equal(t, "180", text(t, page, "available"))
	}
	require.Equal(t, n, e.entries(t, "demo-free-1"), "nothing written")

	holds, err := e.l.Holds(context.Background(), "demo-free-1")
	require.NoError(t, err)
	require.Len(t, holds, 1)
	hold := acct + "/holds/" + url.PathEscape(holds[0].ID)

	status, _, page = b.post(hold+"/capture", "csrf", csrf, "amount", "25")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, page, "invalid_amount")
	require.Equal(t, "20", text(t, page, "held"))

	status, _, page = b.post(hold+"/capture", "csrf", csrf, "amount", "15")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "185", text(t, page, "available"))
	require.Equal(t, "0", text(t, page, "held"))
	require.Contains(t, history(t, page), `kind-capture">capture`)
	require.Contains(t, history(t, page), `<span class="muted">of</span> <code title="`+holds[0].ID+`">`, "a capture names its hold")
	require.Contains(t, history(t, page), `kind-release">release`)

	status, _, page = b.post(hold+"/capture", "csrf", csrf, "amount", "10")
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, page, "hold_not_active")
	status, _, page = b.post(hold+"/release", "csrf", csrf)
	require.Equal(t, http.StatusConflict, status)
	require.Equal(t, "185", text(t, page, "available"))

	// A second hold, released.
	status, _, page = b.post(acct+"/hold", "csrf", csrf, "key", "h2", "amount", "10")
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "175", text(t, page, "available"))
	holds, err = e.l.Holds(context.Background(), "demo-free-1")
	require.NoError(t, err)
	require.Len(t, holds, 1)
	status, _, page = b.post(acct+"/holds/"+url.PathEscape(holds[0].ID)+"/release", "csrf", csrf)
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, "Released hold")
	require.Equal(t, "185", text(t, page, "available"))

	// Reverse a grant: part, then the rest, then nothing is left.
	rec, err := e.l.Grant(context.Background(), ledger.GrantParams{Account: "demo-free-1", Amount: decimal.NewFromInt(40), IdempotencyKey: "refund-me"})
	require.NoError(t, err)
	_, page = b.get(acct)
	require.Contains(t, page, `<option value="`+rec.OperationID+`">grant 40`, "the grant is offered for reversal")
	status, _, page = b.post(acct+"/reverse", "csrf", csrf, "key", "r1", "operation", rec.OperationID, "amount", "10")
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, "Reversed 10 credits of operation")
	require.Equal(t, "215", text(t, page, "available"))
	status, _, page = b.post(acct+"/reverse", "csrf", csrf, "key", "r2", "operation", rec.OperationID)
	require.Equal(t, http.StatusOK, status, page)
	require.Equal(t, "185", text(t, page, "available"))
	status, _, page = b.post(acct+"/reverse", "csrf", csrf, "key", "r3", "operation", rec.OperationID)
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, "Nothing was left to reverse")
	require.Equal(t, "185", text(t, page, "available"))

	// The balance before all of this, and refusals of instants.
	status, page = b.get(acct + "?at=" + url.QueryEscape(start.Format(time.RFC3339Nano)))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "200", text(t, page, "available-at"))
	require.Equal(t, "0", text(t, page, "held-at"))
	_, page = b.get(acct + "?at=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04")))
	require.Contains(t, text(t, page, "flash-error"), "is after now")
	_, page = b.get(acct + "?at=yesterday")
	require.Contains(t, text(t, page, "flash-error"), `at "yesterday" is not an instant`)
}

// The JSON routes of holds and reversals, behind the admin token.
func TestHoldRoutes(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	base := e.srv.URL + "/api/accounts/demo-free-1"

	callError(t, http.StatusUnauthorized, "unauthorized", http.MethodPost, base+"/holds", `{"amount":"5"}`)
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, base+"/holds", `{"amount":"5","ttlSeconds":90000}`, adminToken)
	callError(t, http.StatusPaymentRequired, "insufficient_credits", http.MethodPost, base+"/holds", `{"amount":"500"}`, adminToken)
	h := callJSON(t, http.StatusOK, http.MethodPost, base+"/holds", `{"amount":"5","ttlSeconds":60,"idempotencyKey":"j1"}`, adminToken)
	require.Equal(t, "active", h["state"])
	require.Equal(t, "5", h["amount"])
	id := h["id"].(string)

	out := callJSON(t, http.StatusOK, http.MethodGet, base+"/holds", "")
	require.Len(t, out["holds"], 1)
	bal := callJSON(t, http.StatusOK, http.MethodGet, base, "")
	require.Equal(t, "195", bal["available"])
	require.Equal(t, "5", bal["held"])

	rec := callJSON(t, http.StatusOK, http.MethodPost, base+"/holds/"+id+"/capture", `{"amount":"3"}`, adminToken)
	require.Equal(t, "197", rec["balance"])
	callError(t, http.StatusConflict, codeHoldNotActive, http.MethodPost, base+"/holds/"+id+"/release", "", adminToken)
	msg := callError(t, http.StatusNotFound, codeHoldNotFound, http.MethodPost, base+"/holds/nope/release", "", adminToken)
	require.Contains(t, msg, "hold nope")
	callError(t, http.StatusMethodNotAllowed, "method_not_allowed", http.MethodDelete, base+"/holds", "", adminToken)

	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, base+"/reverse", `{"operationId":"a","key":"b"}`, adminToken)
	captureID := rec["operationId"].(string)
	entries := rec["entries"].([]any)
	require.Equal(t, id, entries[len(entries)-1].(map[string]any)["ref"], "capture entries name their hold")
	rec = callJSON(t, http.StatusOK, http.MethodPost, base+"/reverse", `{"operationId":"`+captureID+`"}`, adminToken)
	require.Equal(t, "200", rec["balance"], "the capture's 3 are back")
	require.Equal(t, captureID, rec["entries"].([]any)[0].(map[string]any)["ref"])

	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodGet, base+"/balance-at?at=soon", "")
	past := callJSON(t, http.StatusOK, http.MethodGet, base+"/balance-at?at="+url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), "")
	require.Equal(t, "200", past["available"])
	require.True(t, regexp.MustCompile(`^\d{4}-`).MatchString(past["at"].(string)))
	require.False(t, strings.Contains(past["available"].(string), "."))
}

// Two operations of one millisecond have ids that differ only at the
// end: the reverse form lists each whole, and the history's short form
// keeps the end, so the two never look the same.
func TestOperationIDsTellApart(t *testing.T) {
	t.Parallel()
	var g id.Generator
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	a, b := g.New(at), g.New(at)
	require.Equal(t, a[:25], b[:25], "one millisecond: only the last character differs")
	require.NotEqual(t, shortID(a), shortID(b))
	require.Equal(t, "…"+a[18:], shortID(a))
	require.Equal(t, "short", shortID("short"))

	e := newConsole(t)
	ctx := context.Background()
	var ops []string
	for _, key := range []string{"r1", "r2"} {
		rec, err := e.l.Grant(ctx, ledger.GrantParams{Account: "demo-free-1", Amount: decimal.NewFromInt(3), IdempotencyKey: key})
		require.NoError(t, err)
		ops = append(ops, rec.OperationID)
	}
	br := e.browser(t)
	br.login()
	_, page := br.get("/accounts/demo-free-1")
	form := regexp.MustCompile(`(?s)<select id="reverse-operation".*?</select>`).FindString(page)
	for _, op := range ops {
		require.Regexp(t, `<option value="`+op+`">grant 3 grant · `+op+`</option>`, form)
		require.Contains(t, history(t, page), `<code title="`+op+`">`+shortID(op)+`</code>`)
	}
}
