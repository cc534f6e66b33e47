package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// What checkUTF8 lets through decodes without a U+FFFD the client did not
// send: no two different bodies it accepts read as the same text.
func FuzzCheckUTF8(f *testing.F) {
	for _, seed := range []string{
		`{"idempotencyKey":"inv-1"}`, "{\"k\":\"inv-\xff\"}", `{"k":"\ud800"}`, `{"k":"\ud83d\ude00"}`,
		`{"k":"\\ud800"}`, `{"k":"\ufffd"}`, "{\"k\":\"\uFFFD\"}", `{"k":"\udc00\ud800"}`, `{"\ud800":1}`,
	} {
		f.Add([]byte(seed))
	}
	escaped := regexp.MustCompile(`(?i)\\ufffd`)
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkUTF8(body) != nil {
			return
		}
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		sent := strings.Count(string(body), "\uFFFD") + len(escaped.FindAllIndex(body, -1))
		if got := countFFFD(v); got > sent {
			t.Fatalf("%q decodes with %d U+FFFD, %d sent", body, got, sent)
		}
	})
}

// countFFFD counts the U+FFFD in the strings (keys too) of a decoded value.
func countFFFD(v any) int {
	switch v := v.(type) {
	case string:
		return strings.Count(v, "\uFFFD")
	case []any:
		n := 0
		for _, e := range v {
			n += countFFFD(e)
		}
		return n
	case map[string]any:
		n := 0
		for k, e := range v {
			n += strings.Count(k, "\uFFFD") + countFFFD(e)
		}
		return n
	}
	return 0
}
