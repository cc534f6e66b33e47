package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
)

// receiver is a webhook endpoint that verifies every request's signature
// and fails the first fail requests with a 500.
type receiver struct {
	mu       sync.Mutex
	secret   []byte
	fail     int
	requests int
	bad      []string
	events   []webhookEvent
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if err := verifySignature(r.Header.Get("Creditledger-Signature"), body, rc.secret, time.Now(), 5*time.Minute); err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "down for a moment", http.StatusInternalServerError)
		return
	}
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.events = append(rc.events, b.Events...)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) received(typ, account string) []webhookEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []webhookEvent
	for _, e := range rc.events {
		if e.Type == typ && e.Account == account {
			out = append(out, e)
		}
	}
	return out
}

// The server delivers the ledger's events to -webhook-url, signed with
// -webhook-secret, again after the receiver failed; a consume that
// crosses the threshold arrives as balance.low, and the console shows the
// events and their delivery state.
func TestWebhookDelivery(t *testing.T) {
	rc := &receiver{secret: []byte("whsec-e2e"), fail: 1}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	t.Setenv("CREDITLEDGER_ADMIN_TOKEN", adminToken)
	t.Setenv(webhookURLEnv, "")
	t.Setenv(webhookSecretEnv, "")
	srv := start(t, "-db", testdb.SQLitePath(t), "-seed", "1", "-webhook-url", hook.URL+"/hooks?token=abc", "-webhook-secret", "whsec-e2e")

	// Down to 15, below the example's threshold of 20.
	before, err := decimal.NewFromString(available(t, srv.base, "demo-free-1"))
	require.NoError(t, err)
	take := before.Sub(decimal.NewFromInt(15))
	status, _, body := call(t, http.MethodPost, srv.base+"/api/accounts/demo-free-1/consume", `{"amount":"`+take.String()+`"}`, adminToken)
	require.Equal(t, http.StatusOK, status, string(body))
	require.Eventually(t, func() bool { return len(rc.received("balance.low", "demo-free-1")) == 1 },
		30*time.Second, 20*time.Millisecond, "balance.low delivered")
	low := rc.received("balance.low", "demo-free-1")[0]
	require.Equal(t, take.String(), low.Amount)
	require.Equal(t, "15", low.Balance)
	require.NotEmpty(t, rc.received("credits.granted", "demo-free-1"), "the seed's grants too")
	rc.mu.Lock()
	require.Empty(t, rc.bad, "every request was signed")
	require.Greater(t, rc.requests, 1, "the failed request was retried")
	rc.mu.Unlock()

	// The console: the overall page and the account's section.
	require.Eventually(t, func() bool {
		_, _, page := call(t, http.MethodGet, srv.base+"/events", "")
		return strings.Contains(string(page), "balance.low") && !strings.Contains(string(page), `class="state">pending<`)
	}, 30*time.Second, 20*time.Millisecond)
	_, _, page := call(t, http.MethodGet, srv.base+"/events", "")
	require.Contains(t, string(page), `id="webhook-url"`)
	require.NotContains(t, string(page), "token=abc", "the webhook's query is not shown")
	require.Contains(t, string(page), `class="state">acked<`)
	_, _, acct := call(t, http.MethodGet, srv.base+"/accounts/demo-free-1", "")
	require.Contains(t, string(acct), `id="account-events"`)
	require.Contains(t, string(acct), "balance.low")

	var list struct{ Events []eventJSON }
	status, _, body = call(t, http.MethodGet, srv.base+"/api/events?account=demo-free-1&limit=5", "")
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &list))
	require.NotEmpty(t, list.Events)
	require.Equal(t, "balance.low", list.Events[0].Type)
	require.Equal(t, "acked", list.Events[0].State)
	status, _, _ = call(t, http.MethodGet, srv.base+"/api/events?limit=0", "")
	require.Equal(t, http.StatusBadRequest, status)

	srv.stop()
	require.NotContains(t, srv.stderr.String(), "whsec-e2e", "the secret given is never logged")
	require.NotContains(t, srv.stderr.String(), "token=abc", "nor the URL's query")
}

// Without -webhook-secret, a secret is made and printed once at start.
func TestWebhookSecretGenerated(t *testing.T) {
	t.Setenv("CREDITLEDGER_ADMIN_TOKEN", adminToken)
	t.Setenv(webhookURLEnv, "http://127.0.0.1:9/unreachable")
	t.Setenv(webhookSecretEnv, "")
	srv := start(t, "-db", testdb.SQLitePath(t), "-seed", "0")
	srv.stop()
	out := srv.stderr.String()
	i := strings.Index(out, "  secret: ")
	require.GreaterOrEqual(t, i, 0, out)
	secret := strings.Fields(out[i+len("  secret: "):])[0]
	require.Len(t, secret, 32)
	require.Equal(t, 2, strings.Count(out, secret), "printed in the WEBHOOK block only (secret: and export)")
}
