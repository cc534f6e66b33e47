package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// verifySignature is the receiver of the README ("Events"), verbatim:
// TestREADMEReceiver keeps the two the same, and the webhook tests verify
// every delivery with it.

// verifySignature checks a Creditledger-Signature header against the raw
// request body: HMAC-SHA256(secret, t + "." + body), t within tolerance.
func verifySignature(header string, body, secret []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("malformed signature header")
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return errors.New("signature too old (or from the future)")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "." + string(body)))
	want, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(mac.Sum(nil), want) {
		return errors.New("signature does not match")
	}
	return nil
}

// The README's receiver is this file's verifySignature.
func TestREADMEReceiver(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	const start = "// verifySignature checks"
	i := strings.Index(string(readme), start)
	require.GreaterOrEqual(t, i, 0, "the README shows the receiver")
	snippet := string(readme[i:])
	snippet = snippet[:strings.Index(snippet, "\n```")]
	self, err := os.ReadFile("webhook_receiver_test.go")
	require.NoError(t, err)
	require.Contains(t, string(self), snippet, "the README's receiver and verifySignature differ")
}

func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	secret, body := []byte("s3cret"), []byte(`{"events":[]}`)
	now := time.Unix(1764576000, 0)
	h := sign(secret, now, body)
	require.Regexp(t, `^t=1764576000,v1=[0-9a-f]{64}$`, h)
	require.NoError(t, verifySignature(h, body, secret, now, 5*time.Minute))
	require.Error(t, verifySignature(h, []byte(`{"events":[1]}`), secret, now, 5*time.Minute), "another body")
	require.Error(t, verifySignature(h, body, []byte("other"), now, 5*time.Minute), "another secret")
	require.Error(t, verifySignature(h, body, secret, now.Add(10*time.Minute), 5*time.Minute), "replayed later")
	require.Error(t, verifySignature("v1=abc", body, secret, now, 5*time.Minute), "no timestamp")
}
