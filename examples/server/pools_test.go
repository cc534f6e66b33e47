package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The JSON API grants into pools (now and dated), consumes by feature
// and by pool, lists a pool's entries and changes a lot's expiry; bad
// requests get their codes and write nothing.
func TestAPIPoolsAndFeatures(t *testing.T) {
	srv := startAPI(t)
	acct := srv.base + "/api/accounts/pool-user"
	rec := callJSON(t, http.StatusOK, http.MethodPost, acct+"/grant",
		`{"amount":"20","idempotencyKey":"g1","pool":"image"}`, adminToken)
	require.Equal(t, "20", rec["balance"], "the image pool's figure")
	later := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	callJSON(t, http.StatusOK, http.MethodPost, acct+"/grant",
		`{"amount":"5","idempotencyKey":"g2","pool":"image","effectiveAt":"`+later+`"}`, adminToken)
	callJSON(t, http.StatusOK, http.MethodPost, acct+"/grant", `{"amount":"10","idempotencyKey":"g3"}`, adminToken)

	// image_hd is 2.5 a unit in the demo catalog: 3 cost 8, from the
	// default pool (the feature's).
	rec = callJSON(t, http.StatusOK, http.MethodPost, acct+"/consume", `{"feature":"image_hd","quantity":"3"}`, adminToken)
	require.Equal(t, "2", rec["balance"])
	e := rec["entries"].([]any)[0].(map[string]any)
	require.Equal(t, "-8", e["amount"])
	require.Equal(t, "image_hd", e["feature"])
	require.Equal(t, "3", e["quantity"])
	rec = callJSON(t, http.StatusOK, http.MethodPost, acct+"/consume", `{"amount":"4","pool":"image"}`, adminToken)
	require.Equal(t, "16", rec["balance"])

	bal := callJSON(t, http.StatusOK, http.MethodGet, acct, "")
	require.Equal(t, "2", bal["available"], "the top level is the default pool")
	pools := bal["pools"].(map[string]any)
	image := pools["image"].(map[string]any)
	require.Equal(t, "16", image["available"])
	upcoming := image["upcoming"].([]any)
	require.Len(t, upcoming, 1)
	require.Equal(t, later, upcoming[0].(map[string]any)["effectiveAt"])
	lot := image["lots"].([]any)[0].(map[string]any)
	require.Equal(t, "image", lot["pool"])

	page := callJSON(t, http.StatusOK, http.MethodGet, acct+"/entries?pool=image", "")
	require.Len(t, page["entries"].([]any), 3, "two grants and a consume in the image pool")
	for _, e := range page["entries"].([]any) {
		require.Equal(t, "image", e.(map[string]any)["pool"])
	}
	page = callJSON(t, http.StatusOK, http.MethodGet, acct+"/entries?pool=", "")
	require.Len(t, page["entries"].([]any), 2, "the default pool: a grant and the priced consume")
	require.Equal(t, 5, entryCount(t, srv.base, "pool-user"), "no pool parameter: every pool")

	// The lot's expiry: a date, then never.
	lotURL := acct + "/lots/" + lot["id"].(string) + "/expiry"
	exp := time.Now().Add(240 * time.Hour).UTC().Format(time.RFC3339)
	rec = callJSON(t, http.StatusOK, http.MethodPut, lotURL, `{"expiresAt":"`+exp+`"}`, adminToken)
	require.Equal(t, "set_expiry", rec["entries"].([]any)[0].(map[string]any)["kind"])
	bal = callJSON(t, http.StatusOK, http.MethodGet, acct, "")
	require.Equal(t, exp, bal["pools"].(map[string]any)["image"].(map[string]any)["lots"].([]any)[0].(map[string]any)["expiresAt"])
	callJSON(t, http.StatusOK, http.MethodPut, lotURL, `{}`, adminToken)
	bal = callJSON(t, http.StatusOK, http.MethodGet, acct, "")
	require.Nil(t, bal["pools"].(map[string]any)["image"].(map[string]any)["lots"].([]any)[0].(map[string]any)["expiresAt"])

	before := entryCount(t, srv.base, "pool-user")
	callError(t, http.StatusUnauthorized, "unauthorized", http.MethodPut, lotURL, `{}`)
	msg := callError(t, http.StatusNotFound, "lot_not_found", http.MethodPut, acct+"/lots/nope/expiry", `{}`, adminToken)
	require.Contains(t, msg, "nope")
	msg = callError(t, http.StatusBadRequest, "unknown_feature", http.MethodPost, acct+"/consume", `{"feature":"video","quantity":"1"}`, adminToken)
	require.Contains(t, msg, "video")
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, acct+"/consume", `{"feature":"image_hd","amount":"1"}`, adminToken)
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, acct+"/consume", `{"quantity":"1"}`, adminToken)
	callError(t, http.StatusBadRequest, "invalid_amount", http.MethodPost, acct+"/consume", `{"feature":"image_hd"}`, adminToken)
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, acct+"/consume", `{"feature":"image_hd","quantity":"0"}`, adminToken)
	callError(t, http.StatusPaymentRequired, "insufficient_credits", http.MethodPost, acct+"/consume", `{"amount":"3"}`, adminToken)
	callError(t, http.StatusBadRequest, "invalid_argument", http.MethodPost, acct+"/grant", `{"pack":"basic","idempotencyKey":"p","pool":"image"}`, adminToken)
	require.Equal(t, before, entryCount(t, srv.base, "pool-user"), "no refused request wrote an entry")
}

// The console shows an account's pools, upcoming credits and priced
// entries, and its consume form spends by feature.
func TestConsolePools(t *testing.T) {
	env := newConsole(t)
	b := env.browser(t)
	csrf := b.login()
	acct := "/accounts/demo-free-1"
	status, _, body := b.post(acct+"/grant", "csrf", csrf, "key", "k-img", "amount", "30", "pool", "image")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, text(t, body, "flash-notice"), "Granted 30 credits")
	status, _, body = b.post(acct+"/consume", "csrf", csrf, "key", "k-feat", "amount", "3", "feature", "image_hd")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, text(t, body, "flash-notice"), "Consumed 3 of image_hd")
	status, _, body = b.post(acct+"/consume", "csrf", csrf, "key", "k-bad", "amount", "3", "feature", "video")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `unknown feature &#34;video&#34;`)

	_, page := b.get(acct)
	require.Contains(t, page, `<table id="pools">`, "an account with a second pool gets the pools table")
	pools := page[strings.Index(page, `<table id="pools">`):]
	pools = pools[:strings.Index(pools, "</table>")]
	require.Contains(t, pools, "<td>image</td><td class=\"num\">30</td>")
	require.Contains(t, page, `<select id="consume-feature" name="feature">`)
	h := history(t, page)
	require.Contains(t, h, "image_hd × 3")
	require.Contains(t, h, `<td class="hide-narrow">image</td>`)
	// 200 from the free plan's grants, less 8 for 3 images at 2.5.
	require.Equal(t, "192", text(t, page, "available"))

	// An account that only has the default pool shows no pools table.
	_, other := b.get("/accounts/demo-lifetime-1")
	require.NotContains(t, other, `<table id="pools">`)
}
