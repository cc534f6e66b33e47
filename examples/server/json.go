package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
)

// maxBodyBytes bounds every request body: larger ones get 413.
const maxBodyBytes = 64 << 10

// amount is a decimal amount in a request: a JSON string ("10.5") or,
// leniently, a JSON number (10.5). Either way the text is parsed as a
// decimal, never through float64, so it is exact.
type amount struct{ decimal.Decimal }

// errBadAmount is wrapped by amount's decoding errors.
var errBadAmount = errors.New(`amount must be a decimal string such as "10"`)

func (a *amount) UnmarshalJSON(b []byte) error {
	text := b
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return errBadAmount
		}
		text = []byte(s)
	} else if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errBadAmount // null, true, {}, []
	}
	d, err := decimal.NewFromString(string(text))
	if err != nil {
		return fmt.Errorf("%w (got %.40q)", errBadAmount, text)
	}
	a.Decimal = d
	return nil
}

// timestamp is an instant in a request: a JSON string in RFC 3339.
type timestamp struct{ time.Time }

// errBadTime is wrapped by timestamp's decoding errors.
var errBadTime = errors.New("a time must be an RFC 3339 string such as \"2027-01-01T00:00:00Z\"")

func (ts *timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w (got %.40s)", errBadTime, b)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("%w (got %.40q)", errBadTime, s)
	}
	ts.Time = t
	return nil
}

var errTrailingData = errors.New("unexpected data after the JSON object")

// errNotUTF8 is returned by checkUTF8.
var errNotUTF8 = errors.New("the body is not valid UTF-8")

// checkUTF8 returns an error wrapping errNotUTF8, with the offset of the
// first bad byte, when body has a byte sequence that is not UTF-8 or a
// string escape that is not a character (a lone surrogate such as
// "\ud800"). encoding/json turns both into U+FFFD without a word, so
// "inv-\xff" and "inv-\xfe" would become one idempotency key and the
// second, different request a replay of the first; the ledger never sees
// the bytes that made them differ. A U+FFFD the client did send, as UTF-8
// or as "\ufffd", is kept.
func checkUTF8(body []byte) error {
	if !utf8.Valid(body) {
		i := 0
		for i < len(body) {
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return fmt.Errorf("%w: byte %d (0x%02x) does not start a UTF-8 character", errNotUTF8, i, body[i])
	}
	inString := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(body):
			if body[i+1] != 'u' {
				i++ // the escaped character, a quote or a backslash included
				continue
			}
			r, ok := hex4(body[i+2:])
			if !ok {
				continue // malformed: the decoder says so
			}
			switch {
			case utf16.IsSurrogate(r) && r < 0xdc00: // high: a low must follow
				if lo, ok := hex4(body[min(i+8, len(body)):]); ok && i+7 < len(body) &&
					body[i+6] == '\\' && body[i+7] == 'u' && lo >= 0xdc00 && lo <= 0xdfff {
					i += 11
					continue
				}
				return fmt.Errorf("%w: the escape at byte %d is half a UTF-16 surrogate pair, not a character", errNotUTF8, i)
			case utf16.IsSurrogate(r):
				return fmt.Errorf("%w: the escape at byte %d is half a UTF-16 surrogate pair, not a character", errNotUTF8, i)
			}
			i += 5
		}
	}
	return nil
}

// hex4 reads the 4 hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(n), err == nil
}

// decodeBody reads r's JSON body into dst, strictly: UTF-8 (checkUTF8),
// one object, no unknown fields, at most maxBodyBytes. On failure it has
// answered with a 4xx JSON error (code invalid_json, invalid_amount,
// invalid_argument or body_too_large) and returns false. Its messages
// describe JSON types in JSON's words, never Go's.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err == nil {
		err = checkUTF8(body)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(dst)
		// Only white space may follow the object.
		if err == nil && len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
			err = errTrailingData
		}
	}
	if err == nil {
		return true
	}
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes))
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, codeInvalidJSON, "request body is empty; send a JSON object")
	case errors.As(err, &syntax):
		writeError(w, http.StatusBadRequest, codeInvalidJSON,
			fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, codeInvalidJSON, "malformed JSON: the body ends before the object does")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			writeError(w, http.StatusBadRequest, codeInvalidJSON, "the body must be a JSON object, not "+article(typeErr.Value))
			return false
		}
		writeError(w, http.StatusBadRequest, codeInvalidJSON,
			"field "+typeErr.Field+" must be "+jsonKind(typeErr.Type)+", not "+article(typeErr.Value))
	case errors.Is(err, errBadAmount):
		writeError(w, http.StatusBadRequest, codeInvalidAmount, err.Error())
	case errors.Is(err, errBadTime):
		writeError(w, http.StatusBadRequest, codeInvalidArgument, err.Error())
	case errors.Is(err, errNotUTF8):
		writeError(w, http.StatusBadRequest, codeInvalidJSON, err.Error()+
			"; send UTF-8 (two different invalid sequences would otherwise read as the same text)")
	case errors.Is(err, errTrailingData):
		writeError(w, http.StatusBadRequest, codeInvalidJSON, err.Error())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for it.
		writeError(w, http.StatusBadRequest, codeInvalidJSON,
			"unknown field "+strings.TrimPrefix(err.Error(), "json: unknown field ")+" (field names are case-sensitive)")
	default:
		writeError(w, http.StatusBadRequest, codeInvalidJSON, "invalid request body")
	}
	return false
}

// jsonKind names what a Go type is in JSON.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map:
		return "an object of strings"
	}
	return "an object"
}

// article puts "a" or "an" before a JSON type name ("number", "object").
func article(jsonType string) string {
	if jsonType != "" && strings.ContainsRune("aeiou", rune(jsonType[0])) {
		return "an " + jsonType
	}
	return "a " + jsonType
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	// Messages such as "Bearer <token>" stay readable; the answer is
	// application/json with nosniff, never HTML.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // not reached with the types used here
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// The JSON shapes of the answers. Amounts are decimal strings.

type lotJSON struct {
	ID        string     `json:"id"`
	Pool      string     `json:"pool,omitempty"` // absent: the default pool
	Source    string     `json:"source"`
	Amount    string     `json:"amount"`
	Remaining string     `json:"remaining"`
	ExpiresAt *time.Time `json:"expiresAt"` // null: never
	// EffectiveAt is set on a dated grant: spendable from then.
	EffectiveAt *time.Time `json:"effectiveAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	Priority    int        `json:"priority"`
}

type balanceJSON struct {
	Account string `json:"account"`
	Plan    string `json:"plan"` // "" when none was set (the catalog's default plan applies)
	// Available, Held, Owed, Lots and Upcoming are the default pool's.
	Available string `json:"available"`
	// Held is what active holds reserve (not part of available); absent
	// when the holds feature is not compiled in.
	Held *string   `json:"held,omitempty"`
	Owed string    `json:"owed"` // the debt under an overdraft, "0" for none
	At   time.Time `json:"at"`
	Lots []lotJSON `json:"lots"` // open lots, in burn order
	// Upcoming are dated grants not spendable yet.
	Upcoming []lotJSON `json:"upcoming"`
	// Pools has every pool the account holds, the default ("") included.
	Pools map[string]poolJSON `json:"pools"`
}

// poolJSON is one credit pool of an account.
type poolJSON struct {
	Available string    `json:"available"`
	Held      string    `json:"held"`
	Owed      string    `json:"owed"`
	Lots      []lotJSON `json:"lots"`
	Upcoming  []lotJSON `json:"upcoming"`
}

func (s *server) balanceOut(b *ledger.Balance) balanceJSON {
	out := balanceJSON{
		Account:   b.Account,
		Plan:      b.Plan,
		Available: b.Available.String(),
		Owed:      b.Owed.String(),
		At:        b.At,
		Lots:      lotsOut(b.Lots),
		Upcoming:  lotsOut(b.Upcoming),
		Pools:     make(map[string]poolJSON, len(b.Pools)),
	}
	if held, ok := s.heldOf(b); ok {
		h := held.String()
		out.Held = &h
	}
	for name, pb := range b.Pools {
		out.Pools[name] = poolJSON{Available: pb.Available.String(), Held: pb.Held.String(), Owed: pb.Owed.String(),
			Lots: lotsOut(pb.Lots), Upcoming: lotsOut(pb.Upcoming)}
	}
	return out
}

// lotsOut converts lots; never nil, so that none prints as [].
func lotsOut(lots []ledger.Lot) []lotJSON {
	out := make([]lotJSON, len(lots))
	for i, l := range lots {
		out[i] = lotJSON{
			ID:          l.ID,
			Pool:        l.Pool,
			Source:      l.Source,
			Amount:      l.Amount.String(),
			Remaining:   l.Remaining.String(),
			ExpiresAt:   l.ExpiresAt,
			EffectiveAt: l.EffectiveAt,
			CreatedAt:   l.CreatedAt,
			Priority:    l.Priority,
		}
	}
	return out
}

type entryJSON struct {
	ID           string            `json:"id"`
	Kind         string            `json:"kind"`
	OperationID  string            `json:"operationId"`
	LotID        string            `json:"lotId"`
	Amount       string            `json:"amount"` // signed
	BalanceAfter string            `json:"balanceAfter"`
	Source       string            `json:"source"`
	Pool         string            `json:"pool,omitempty"`     // absent: the default pool
	Feature      string            `json:"feature,omitempty"`  // a consume or hold priced by a feature
	Quantity     string            `json:"quantity,omitempty"` // of feature
	Description  string            `json:"description,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
	// Ref is the hold a release or capture ends, or the operation a
	// reversal reverses.
	Ref string `json:"ref,omitempty"`
}

func entriesOut(es []ledger.Entry) []entryJSON {
	out := make([]entryJSON, len(es))
	for i, e := range es {
		out[i] = entryJSON{
			ID:           e.ID,
			Kind:         string(e.Kind),
			OperationID:  e.OperationID,
			LotID:        e.LotID,
			Amount:       e.Amount.String(),
			BalanceAfter: e.BalanceAfter.String(),
			Source:       e.Source,
			Pool:         e.Pool,
			Feature:      e.Feature,
			Description:  e.Description,
			Metadata:     e.Metadata,
			CreatedAt:    e.CreatedAt,
			Ref:          e.Ref,
		}
		if e.Feature != "" {
			out[i].Quantity = e.Quantity.String()
		}
	}
	return out
}

type entryPageJSON struct {
	Account    string      `json:"account"`
	Entries    []entryJSON `json:"entries"` // newest first
	NextCursor string      `json:"nextCursor,omitempty"`
}

type receiptJSON struct {
	Account     string      `json:"account"`
	OperationID string      `json:"operationId"`
	Replayed    bool        `json:"replayed"`
	Balance     string      `json:"balance"` // available after the operation
	Entries     []entryJSON `json:"entries"`
}

func receiptOut(account string, r *ledger.Receipt) receiptJSON {
	return receiptJSON{
		Account:     account,
		OperationID: r.OperationID,
		Replayed:    r.Replayed,
		Balance:     r.Balance.String(),
		Entries:     entriesOut(r.Entries),
	}
}
