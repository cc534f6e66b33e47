package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// hostileStrings are account ids and idempotency keys a caller might
// pass, on purpose or not.
func hostileStrings() map[string]string {
	return map[string]string{
		"empty":                "",
		"space":                " ",
		"trailing space":       "user ",
		"255 bytes":            strings.Repeat("a", 255),
		"256 bytes":            strings.Repeat("a", 256),
		"255 bytes of é":       strings.Repeat("é", 127) + "a",
		"256 bytes of é":       strings.Repeat("é", 128),
		"255 bytes of emoji":   strings.Repeat("🙂", 63) + "abc",
		"256 bytes of emoji":   strings.Repeat("🙂", 64),
		"emoji cut mid-rune":   strings.Repeat("🙂", 63) + "\xf0\x9f\x99",
		"unicode":              "ユーザー_ü_ß_ﬁ",
		"combining":            "e\u0301",
		"precomposed":          "\u00e9",
		"emoji":                "🙂👍🏽🏳️‍🌈",
		"rtl and zero-width":   "\u202eabc\u200b",
		"NUL":                  "a\x00b",
		"only NUL":             "\x00",
		"invalid UTF-8":        "\xff\xfe",
		"overlong UTF-8":       "\xc0\xaf",
		"surrogate UTF-8":      "\xed\xa0\x80",
		"sql injection":        "'; DROP TABLE creditledger_accounts; --",
		"sql injection 2":      "x' OR '1'='1",
		"double quote":         `"quoted"`,
		"backslash":            `a\b\\c\'`,
		"bun placeholders":     "? ?0 ?name ??",
		"pg placeholders":      "$1 $2::text",
		"like wildcards":       "%_%",
		"newlines and tabs":    "a\nb\r\nc\td",
		"control chars":        "\x01\x02\x1b[31m",
		"json":                 `{"a":[1,null]}`,
		"reserved key prefix":  "creditledger:plan:free:x:2026-11",
		"reserved gift prefix": "creditledger:gift:x",
	}
}

// validID: 1..255 bytes of valid UTF-8 without NUL (the ledger's rule for
// account ids and keys).
func validID(v string) bool {
	return v != "" && len(v) <= ledger.MaxIDLength && utf8.ValidString(v) && !strings.Contains(v, "\x00")
}

// validKey: a valid id that does not use the ledger's reserved prefix.
func validKey(v string) bool { return validID(v) && !strings.HasPrefix(v, "creditledger:") }

// hostileAmount is an amount at scale 2 and what it must do: be refused
// with ErrInvalidAmount, or be worth minor units.
type hostileAmount struct {
	text  string
	valid bool
	minor int64
}

func hostileAmounts() []hostileAmount {
	return []hostileAmount{
		{"0", false, 0},
		{"0.00", false, 0},
		{"-0", false, 0},
		{"-1", false, 0},
		{"-0.01", false, 0},
		{"0.001", false, 0}, // more places than the scale
		{"1.005", false, 0}, // more places than the scale
		{"0.0000000000000000001", false, 0},
		{"1e-999999999", false, 0},
		{"1e999999999", false, 0}, // too large, refused without expanding it
		{"-1e999999999", false, 0},
		{"99999999999999999999", false, 0},
		{"92233720368547758.08", false, 0}, // MaxInt64+1 minor units
		{"92233720368547758.07", true, 9223372036854775807},
		{"0.01", true, 1},
		{"1.10", true, 110},
		{"1.000000", true, 100}, // trailing zeros are not extra places
		{"1e2", true, 10000},
		{"12.5E-1", true, 125},
		{"42", true, 4200},
	}
}

// hostileRandom returns n random strings built from pieces that break
// naive code: quotes, NULs, invalid bytes, multibyte runes, placeholders.
func hostileRandom(rng *rand.Rand, n int) []string {
	pieces := []string{"", "a", "Z", "0", " ", "'", `"`, ";", "--", "\\", "\x00", "\xff", "\xc3", "é", "🙂", "\u200b",
		"?", "$1", "%", "_", "\n", "creditledger:", "DROP TABLE x", strings.Repeat("x", 60), strings.Repeat("ü", 40)}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		out[i] = b.String()
	}
	return out
}

// footprint is what a store holds in all: a refused call must not change
// it.
type footprint struct{ accounts, lots, entries, operations int64 }

// footprintOf counts a store's records: with SQL on a SQL store (the
// operations too), by a scan on the memory store.
func footprintOf(t testing.TB, s storage.Store) footprint {
	t.Helper()
	var f footprint
	if bs, ok := s.(*bunstore.Store); ok {
		require.NoError(t, bs.DB().QueryRowContext(context.Background(), `SELECT
(SELECT count(*) FROM creditledger_accounts), (SELECT count(*) FROM creditledger_lots),
(SELECT count(*) FROM creditledger_entries), (SELECT count(*) FROM creditledger_entries WHERE idempotency_key IS NOT NULL)`).
			Scan(&f.accounts, &f.lots, &f.entries, &f.operations))
		return f
	}
	scanAll(t, s, func(d *storage.AccountDump) {
		f.accounts++
		f.lots += int64(len(d.Lots))
		f.entries += int64(len(d.Entries))
	})
	return f
}

// TestHostileInput feeds hostile account ids, idempotency keys, amounts,
// descriptions and metadata to Grant, Consume, SetPlan, Balance and
// Entries on every kind of store. Each call either succeeds, and then the
// account reads back byte for byte with the right balance, or fails with
// the typed error the input calls for (ErrInvalidArgument,
// ErrInvalidAmount, ErrInsufficientCredits, ErrIdempotencyConflict) and
// writes nothing. At the end Verify is clean and every account written
// reads back under its exact id.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	rng := newRNG(t)
	names := hostileStrings()
	// Random strings, the same for every store, each used once (a key
	// must not repeat).
	seen := map[string]bool{}
	for _, v := range names {
		seen[v] = true
	}
	var random []string
	for _, v := range hostileRandom(rng, 2*cfg().hostileRandom) {
		if !seen[v] && len(random) < cfg().hostileRandom {
			seen[v] = true
			random = append(random, v)
		}
	}
	for _, kind := range testdb.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			t.Parallel()
			s := kind.New(t)
			l, err := ledger.New(s, &ledger.Config{Scale: 2, Catalog: catalog(), Now: fixed(t1)})
			require.NoError(t, err)
			h := &hostile{t: t, l: l, s: s, written: map[string]decimal.Decimal{}}

			for name, v := range names {
				h.account(name, v)
			}
			for name, v := range names {
				h.key(name, v)
			}
			for _, a := range hostileAmounts() {
				h.amount(a)
			}
			h.overflow()
			h.texts()
			for i, v := range random {
				h.account(fmt.Sprintf("random %d", i), v)
				h.key(fmt.Sprintf("random %d", i), v)
			}

			// Ids that differ only by normalisation or a trailing space are
			// different accounts.
			require.True(t, h.written[names["combining"]].Equal(credits(53)))
			require.True(t, h.written[names["precomposed"]].Equal(credits(53)))
			_, err = l.Grant(context.Background(), ledger.GrantParams{Account: "user", IdempotencyKey: "no-trailing-space", Amount: credits(7)})
			require.NoError(t, err)
			h.written["user"] = credits(7)
			h.requireBalance("user", credits(7))
			h.requireBalance("user ", credits(53))
			h.requireBalance(names["combining"], credits(53))
			h.requireBalance(names["precomposed"], credits(53))

			rep := requireVerified(t, l)
			got := map[string]bool{}
			scanAll(t, s, func(d *storage.AccountDump) { got[d.Account.ID] = true })
			for id := range h.written {
				require.True(t, got[id], "account %q reads back under its exact id", id)
			}
			require.Len(t, got, len(h.written), "no other account was created")
			t.Logf("%s: %d calls with hostile input (%d random strings): %d succeeded, %d refused with the right typed error and nothing written; %d accounts read back byte for byte; Verify clean over %d entries",
				kind.Name, h.calls, len(random), h.calls-h.refused, h.refused, len(h.written), rep.Entries)
		})
	}
}

// hostile runs the calls of TestHostileInput and keeps the books of what
// should be in the store.
type hostile struct {
	t       *testing.T
	l       *ledger.Ledger
	s       storage.Store
	written map[string]decimal.Decimal // account -> available balance
	n       int
	calls   int
	refused int
}

func (h *hostile) uniq(prefix string) string {
	h.n++
	return fmt.Sprintf("%s-%d", prefix, h.n)
}

// call runs fn, which writes to account, and requires either success or
// the wanted error with nothing written.
func (h *hostile) call(what string, want error, fn func() error) error {
	h.t.Helper()
	h.calls++
	if want == nil {
		require.NoError(h.t, fn(), what)
		return nil
	}
	before := footprintOf(h.t, h.s)
	err := fn()
	require.Error(h.t, err, what)
	require.True(h.t, errors.Is(err, want), "%s: want %v, got %v", what, want, err)
	require.Equal(h.t, before, footprintOf(h.t, h.s), "%s: a refused call wrote something", what)
	h.refused++
	return err
}

func (h *hostile) requireBalance(account string, want decimal.Decimal) {
	h.t.Helper()
	bal, err := h.l.Balance(context.Background(), account)
	require.NoError(h.t, err, "balance of %q", account)
	require.Equal(h.t, account, bal.Account)
	require.True(h.t, want.Equal(bal.Available), "balance of %q: want %s, got %s", account, want, bal.Available)
}

// account uses v as an account id: grant, read back, consume, set a plan.
func (h *hostile) account(name, v string) {
	h.t.Helper()
	ctx := context.Background()
	what := fmt.Sprintf("account %s %q", name, v)
	var want error
	if !validID(v) {
		want = ledger.ErrInvalidArgument
	}
	key := h.uniq("acct")
	h.call(what+": grant", want, func() error {
		_, err := h.l.Grant(ctx, ledger.GrantParams{Account: v, IdempotencyKey: key, Amount: credits(5)})
		return err
	})
	h.call(what+": consume", want, func() error {
		_, err := h.l.Consume(ctx, ledger.ConsumeParams{Account: v, Amount: credits(2)})
		return err
	})
	h.call(what+": set plan", want, func() error {
		return h.l.SetPlan(ctx, ledger.PlanParams{Account: v, Plan: "pro_monthly"})
	})
	if want != nil {
		_, err := h.l.Balance(ctx, v)
		require.ErrorIs(h.t, err, ledger.ErrInvalidArgument, what)
		_, err = h.l.Entries(ctx, v, nil)
		require.ErrorIs(h.t, err, ledger.ErrInvalidArgument, what)
		return
	}
	// 5 granted, 2 consumed; pro_monthly grants nothing per period, but a
	// first plan brings the signup gift (50).
	if _, ok := h.written[v]; ok {
		h.written[v] = h.written[v].Add(credits(3))
	} else {
		h.written[v] = credits(53)
	}
	h.requireBalance(v, h.written[v])
	page, err := h.l.Entries(ctx, v, &ledger.ListOpts{Limit: ledger.MaxPageSize})
	require.NoError(h.t, err, what)
	require.NotEmpty(h.t, page.Entries)
	for _, e := range page.Entries {
		require.Equal(h.t, v, e.Account, what)
	}
}

// key uses v as an idempotency key of a grant and of a consume: first
// use, replay, reuse with other parameters.
func (h *hostile) key(name, v string) {
	h.t.Helper()
	ctx := context.Background()
	what := fmt.Sprintf("key %s %q", name, v)
	acct := h.uniq("keyacct")
	var want error
	if !validKey(v) {
		want = ledger.ErrInvalidArgument
	}
	grant := func(amount int64) func() error {
		return func() error {
			_, err := h.l.Grant(ctx, ledger.GrantParams{Account: acct, IdempotencyKey: v, Amount: credits(amount)})
			return err
		}
	}
	if h.call(what+": grant", want, grant(10)) != nil {
		// Unless the key is empty, the same key is refused on a consume.
		if v != "" {
			h.call(what+": consume", ledger.ErrInvalidArgument, func() error {
				_, err := h.l.Consume(ctx, ledger.ConsumeParams{Account: acct, Amount: credits(1), IdempotencyKey: v})
				return err
			})
		}
		_, err := h.l.Balance(ctx, acct)
		require.ErrorIs(h.t, err, ledger.ErrNotFound, "%s: a refused grant created the account", what)
		return
	}
	h.written[acct] = credits(10)
	// Replay: the same receipt, nothing written.
	before := footprintOf(h.t, h.s)
	rec, err := h.l.Grant(ctx, ledger.GrantParams{Account: acct, IdempotencyKey: v, Amount: credits(10)})
	h.calls++
	require.NoError(h.t, err, what)
	require.True(h.t, rec.Replayed, what)
	require.Equal(h.t, before, footprintOf(h.t, h.s), what)
	// Other parameters: a conflict, nothing written.
	h.call(what+": reuse", ledger.ErrIdempotencyConflict, grant(11))
	// The same key on a consume is a conflict too (another operation).
	h.call(what+": consume reuse", ledger.ErrIdempotencyConflict, func() error {
		_, err := h.l.Consume(ctx, ledger.ConsumeParams{Account: acct, Amount: credits(1), IdempotencyKey: v})
		return err
	})
	h.requireBalance(acct, credits(10))
}

// amount grants and consumes a hostile amount.
func (h *hostile) amount(a hostileAmount) {
	h.t.Helper()
	ctx := context.Background()
	d, err := decimal.NewFromString(a.text)
	require.NoError(h.t, err, a.text)
	what := fmt.Sprintf("amount %q", a.text)
	var want error
	if !a.valid {
		want = ledger.ErrInvalidAmount
	}
	acct := h.uniq("amtacct")
	h.call(what+": grant", want, func() error {
		_, err := h.l.Grant(ctx, ledger.GrantParams{Account: acct, IdempotencyKey: h.uniq("amt"), Amount: d})
		return err
	})
	if !a.valid {
		_, err := h.l.Balance(ctx, acct)
		require.ErrorIs(h.t, err, ledger.ErrNotFound, "%s: a refused grant created the account", what)
		// Refused on a consume too, before the balance is even looked at.
		funded := h.funded()
		h.call(what+": consume", ledger.ErrInvalidAmount, func() error {
			_, err := h.l.Consume(ctx, ledger.ConsumeParams{Account: funded, Amount: d})
			return err
		})
		h.requireBalance(funded, h.written[funded])
		return
	}
	require.Equal(h.t, a.minor, d.Shift(2).IntPart())
	h.written[acct] = d
	h.requireBalance(acct, d)
	// Spending it all works; one more minor unit is insufficient.
	h.call(what+": consume all", nil, func() error {
		_, err := h.l.Consume(ctx, ledger.ConsumeParams{Account: acct, Amount: d})
		return err
	})
	h.written[acct] = decimal.Zero
	h.call(what+": consume more", ledger.ErrInsufficientCredits, func() error {
		_, err := h.l.Consume(ctx, ledger.ConsumeParams{Account: acct, Amount: decimal.RequireFromString("0.01")})
		return err
	})
	h.requireBalance(acct, decimal.Zero)
}

// funded returns an account holding 1000 credits.
func (h *hostile) funded() string {
	const id = "funded"
	if _, ok := h.written[id]; !ok {
		_, err := h.l.Grant(context.Background(), ledger.GrantParams{Account: id, IdempotencyKey: "funded", Amount: credits(1000)})
		require.NoError(h.t, err)
		h.written[id] = credits(1000)
	}
	return id
}

// overflow fills an account to the largest balance and adds one more
// minor unit.
func (h *hostile) overflow() {
	h.t.Helper()
	ctx := context.Background()
	max := decimal.RequireFromString("92233720368547758.07")
	h.call("overflow: fill", nil, func() error {
		_, err := h.l.Grant(ctx, ledger.GrantParams{Account: "full", IdempotencyKey: "full-1", Amount: max})
		return err
	})
	h.written["full"] = max
	h.call("overflow: one more", ledger.ErrInvalidAmount, func() error {
		_, err := h.l.Grant(ctx, ledger.GrantParams{Account: "full", IdempotencyKey: "full-2", Amount: decimal.RequireFromString("0.01")})
		return err
	})
	h.requireBalance("full", max)
}

// texts passes hostile descriptions, sources and metadata.
func (h *hostile) texts() {
	h.t.Helper()
	ctx := context.Background()
	acct := "texts"
	for i, c := range []struct {
		name        string
		source      string
		description string
		metadata    map[string]string
		valid       bool
	}{
		{"sql in every text", "'; DROP TABLE x; --", "'; DROP TABLE creditledger_entries; --", map[string]string{"'; --": "?$1"}, true},
		{"unicode everywhere", "🙂", "ユーザー", map[string]string{"é": "🏳️‍🌈"}, true},
		{"NUL in description", "", "a\x00b", nil, false},
		{"invalid UTF-8 in description", "", "\xff", nil, false},
		{"NUL in source", "a\x00", "", nil, false},
		{"65-byte source", strings.Repeat("s", 65), "", nil, false},
		{"1025-byte description", "", strings.Repeat("d", 1025), nil, false},
		{"empty metadata key", "", "", map[string]string{"": "v"}, false},
		{"NUL in metadata value", "", "", map[string]string{"k": "\x00"}, false},
		{"invalid UTF-8 metadata key", "", "", map[string]string{"\xff": "v"}, false},
		{"33 metadata keys", "", "", manyKeys(33), false},
		{"32 metadata keys", "", "", manyKeys(32), true},
	} {
		var want error
		if !c.valid {
			want = ledger.ErrInvalidArgument
		}
		what := "texts: " + c.name
		h.call(what+": grant", want, func() error {
			_, err := h.l.Grant(ctx, ledger.GrantParams{Account: acct, IdempotencyKey: fmt.Sprintf("texts-%d", i), Amount: credits(2),
				Source: c.source, Description: c.description, Metadata: c.metadata})
			return err
		})
		if c.valid {
			h.written[acct] = h.written[acct].Add(credits(2))
		}
		if c.source == "" {
			h.call(what+": consume", want, func() error {
				_, err := h.l.Consume(ctx, ledger.ConsumeParams{Account: acct, Amount: credits(1), Description: c.description, Metadata: c.metadata})
				return err
			})
			if c.valid {
				h.written[acct] = h.written[acct].Sub(credits(1))
			}
		}
	}
	h.requireBalance(acct, h.written[acct])
	page, err := h.l.Entries(ctx, acct, &ledger.ListOpts{Limit: ledger.MaxPageSize})
	require.NoError(h.t, err)
	var sawSQL bool
	for _, e := range page.Entries {
		sawSQL = sawSQL || e.Description == "'; DROP TABLE creditledger_entries; --" && e.Metadata["'; --"] == "?$1"
	}
	require.True(h.t, sawSQL, "hostile texts read back verbatim")
}

func manyKeys(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = "v"
	}
	return m
}
