package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/creditledger/creditledger/ledger"
)

// Webhook delivery of the ledger's events (ledger.DeliverEvents): each
// batch is POSTed as JSON, {"events": [...]}, with the header
//
//	Creditledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
//
// the way Stripe signs its webhooks: the receiver recomputes the HMAC
// over the timestamp and the raw body, compares in constant time, and
// refuses a timestamp too far from its clock (a replayed request). A 2xx
// answer acknowledges the batch; anything else (or no answer within
// webhookTimeout) and the batch is sent again after a backoff, in order
// per account. Receivers deduplicate by the event's id.

// Environment variables of the webhook (flags -webhook-url and
// -webhook-secret win over them).
const (
	webhookURLEnv    = "CREDITLEDGER_WEBHOOK_URL"
	webhookSecretEnv = "CREDITLEDGER_WEBHOOK_SECRET"
	// SignatureHeader is the header that carries the signature.
	signatureHeader = "Creditledger-Signature"
	webhookTimeout  = 10 * time.Second
)

// webhookEvent is an event as the webhook sends it.
type webhookEvent struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Account     string    `json:"account"`
	Pool        string    `json:"pool"`
	Amount      string    `json:"amount"`
	Balance     string    `json:"balance"`
	LotID       string    `json:"lotId,omitempty"`
	OperationID string    `json:"operationId,omitempty"`
	At          time.Time `json:"at"`
	Seq         int64     `json:"seq"`
	Attempt     int       `json:"attempt"` // 1 on the first delivery
}

type webhookBody struct {
	Events []webhookEvent `json:"events"`
}

// webhook posts batches to one URL.
type webhook struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

func newWebhook(rawURL, secret string) (*webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-webhook-url %q: want an http:// or https:// URL", redactURL(rawURL))
	}
	if secret == "" {
		return nil, fmt.Errorf("the webhook secret is empty")
	}
	return &webhook{url: rawURL, secret: []byte(secret), client: &http.Client{Timeout: webhookTimeout}, now: time.Now}, nil
}

// sign returns the signature header's value for body at t.
func sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// deliver is DeliverEvents' function: one POST per batch.
func (w *webhook) deliver(ctx context.Context, events []ledger.Event) error {
	body := webhookBody{Events: make([]webhookEvent, len(events))}
	for i, e := range events {
		body.Events[i] = webhookEvent{ID: e.ID, Type: e.Type, Account: e.Account, Pool: e.Pool, Amount: e.Amount.String(),
			Balance: e.Balance.String(), LotID: e.LotID, OperationID: e.OperationID, At: e.At.UTC(), Seq: e.Seq, Attempt: e.Attempts}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", redactURL(w.url), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "creditledger-example-server")
	req.Header.Set(signatureHeader, sign(w.secret, w.now(), raw))
	resp, err := w.client.Do(req)
	if err != nil {
		// The error names the URL: say it without credentials.
		return fmt.Errorf("webhook %s: %s", redactURL(w.url), redactErr(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s answered %s", redactURL(w.url), resp.Status)
	}
	return nil
}

// redactURL is u without its user info and query (either may carry a
// token).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// redactErr is err's text without the URL that net/http's errors quote
// (with its query, which may carry a token): the inner error's.
func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
