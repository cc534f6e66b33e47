package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
)

// The write commands. Each checks its flags and arguments before it opens
// the database, so a usage error writes nothing; what the ledger refuses
// (an amount, an id, a plan or pack) exits 2 as well, and writes nothing
// either. Text output is a line saying what happened and the entries
// written; -json prints the receipt (or hold, or plan result).

// metaFlag is a repeatable -meta KEY=VALUE flag.
type metaFlag map[string]string

func (m metaFlag) String() string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func (m metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	m[k] = v
	return nil
}

// orNil returns m, or nil when empty (the ledger hashes nil and empty
// metadata alike, but receipts read better without an empty map).
func (m metaFlag) orNil() map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// describe binds the -description and -meta flags every write takes.
func describe(fs *flag.FlagSet, description *string, meta metaFlag) {
	fs.StringVar(description, "description", "", "description of the entries written")
	fs.Var(meta, "meta", "metadata KEY=VALUE of the entries written; repeatable")
}

// parseAmount reads a positional amount: a decimal number such as 100 or
// 2.50 (the ledger then checks it against the scale).
func parseAmount(what, s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, usagef("%s %q is not a decimal number", what, s)
	}
	return d, nil
}

// parseInstant reads an RFC 3339 instant flag; "" is the zero time.
func parseInstant(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usagef("-%s %q is not an RFC 3339 instant such as 2026-12-31T23:00:00Z", flagName, s)
	}
	return t.UTC(), nil
}

// withLedger opens the command's ledger, runs fn on it and closes it.
func withLedger(ctx context.Context, e *env, fn func(l *ledger.Ledger) error) error {
	l, store, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(l)
}

// receiptJSON is a write's receipt as -json prints it.
type receiptJSON struct {
	OperationID string      `json:"operationId"`
	Replayed    bool        `json:"replayed"`
	Balance     string      `json:"balance"` // available after the write
	Entries     []entryJSON `json:"entries"`
	// NothingToReverse: a reverse that found nothing left; only reverse
	// prints it.
	NothingToReverse bool `json:"nothingToReverse,omitempty"`
}

// printReceipt prints a write's receipt: done says what was done, as in
// "granted 100 to alice".
func printReceipt(e *env, done string, rec *ledger.Receipt) error {
	if e.common.json {
		out := receiptJSON{OperationID: rec.OperationID, Replayed: rec.Replayed, Balance: rec.Balance.String(),
			Entries: entriesJSON(rec.Entries), NothingToReverse: rec.NothingToReverse}
		return writeJSON(e.stdout, out)
	}
	replayed := ""
	if rec.Replayed {
		replayed = " (replayed: this key was used before with these parameters; nothing written)"
	}
	fmt.Fprintf(e.stdout, "%s: operation %s%s, available %s\n", done, rec.OperationID, replayed, rec.Balance)
	return printEntries(e, rec.Entries)
}

type grantCmd struct {
	key, source, description, expiresAt string
	pool, effectiveAt                   string
	expiresIn                           durationFlag
	priority                            int
	meta                                metaFlag
}

func grantFlags(fs *flag.FlagSet) runner {
	c := &grantCmd{meta: metaFlag{}}
	fs.StringVar(&c.key, "key", "", "idempotency key, required: e.g. the payment's id; a retry with it grants once")
	fs.StringVar(&c.source, "source", "", `where the credits come from (default "grant")`)
	fs.Var(&c.expiresIn, "expires-in", "the credits expire this long after the grant, e.g. 720h (default: never)")
	fs.StringVar(&c.expiresAt, "expires-at", "", "the credits expire at this RFC 3339 instant (default: never)")
	fs.IntVar(&c.priority, "priority", 0, "lots of lower priority burn first")
	fs.StringVar(&c.pool, "pool", "", `the credit pool to grant into (default "", the default pool)`)
	fs.StringVar(&c.effectiveAt, "effective-at", "", "the credits become spendable at this RFC 3339 instant (default: now)")
	describe(fs, &c.description, c.meta)
	return c
}

func (c *grantCmd) run(ctx context.Context, e *env) error {
	if c.key == "" {
		return usagef("-key KEY is required: a grant is idempotent by its key (the payment's id, say)")
	}
	if c.expiresIn.d != 0 && c.expiresAt != "" {
		return usagef("-expires-in and -expires-at exclude each other")
	}
	amount, err := parseAmount("AMOUNT", e.args[1])
	if err != nil {
		return err
	}
	at, err := parseInstant("expires-at", c.expiresAt)
	if err != nil {
		return err
	}
	from, err := parseInstant("effective-at", c.effectiveAt)
	if err != nil {
		return err
	}
	p := ledger.GrantParams{Account: e.args[0], IdempotencyKey: c.key, Source: c.source, Amount: amount,
		ExpiresIn: c.expiresIn.d, Priority: c.priority, Description: c.description, Metadata: c.meta.orNil(), Pool: c.pool}
	if !at.IsZero() {
		p.ExpiresAt = &at
	}
	if !from.IsZero() {
		p.EffectiveAt = &from
	}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		rec, err := l.Grant(ctx, p)
		if err != nil {
			return err
		}
		return printReceipt(e, fmt.Sprintf("granted %s to %s", amount, p.Account), rec)
	})
}

type grantPackCmd struct {
	key, description string
	meta             metaFlag
}

func grantPackFlags(fs *flag.FlagSet) runner {
	c := &grantPackCmd{meta: metaFlag{}}
	fs.StringVar(&c.key, "key", "", "idempotency key, required: the payment's id; a retry with it grants once")
	describe(fs, &c.description, c.meta)
	return c
}

func (c *grantPackCmd) run(ctx context.Context, e *env) error {
	if c.key == "" {
		return usagef("-key KEY is required: a grant is idempotent by its key (the payment's id, say)")
	}
	p := ledger.GrantPackParams{Account: e.args[0], Pack: e.args[1], IdempotencyKey: c.key,
		Description: c.description, Metadata: c.meta.orNil()}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		rec, err := l.GrantPackWith(ctx, p)
		if err != nil {
			return err
		}
		return printReceipt(e, fmt.Sprintf("granted pack %s to %s", p.Pack, p.Account), rec)
	})
}

type consumeCmd struct {
	key, description string
	pool, feature    string
	meta             metaFlag
}

func consumeFlags(fs *flag.FlagSet) runner {
	c := &consumeCmd{meta: metaFlag{}}
	fs.StringVar(&c.key, "key", "", "idempotency key (default: none, the call is not deduplicated)")
	spendFlags(fs, &c.pool, &c.feature)
	describe(fs, &c.description, c.meta)
	return c
}

func (c *consumeCmd) run(ctx context.Context, e *env) error {
	amount, quantity, err := spendAmount(c.feature, e.args[1])
	if err != nil {
		return err
	}
	p := ledger.ConsumeParams{Account: e.args[0], IdempotencyKey: c.key, Amount: amount,
		Pool: c.pool, Feature: c.feature, Quantity: quantity,
		Description: c.description, Metadata: c.meta.orNil()}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		rec, err := l.Consume(ctx, p)
		if err != nil {
			return err
		}
		what := amount.String()
		if c.feature != "" {
			what = quantity.String() + " " + c.feature
		}
		return printReceipt(e, fmt.Sprintf("consumed %s of %s", what, p.Account), rec)
	})
}

// holdJSON is a hold as -json prints it.
type holdJSON struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"`
	Pool      string    `json:"pool,omitempty"` // "" (omitted): the default pool
	Amount    string    `json:"amount"`
	Captured  string    `json:"captured"`
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expiresAt"`
	CreatedAt time.Time `json:"createdAt"`
	Replayed  bool      `json:"replayed"`
}

func holdOut(h *ledger.Hold) holdJSON {
	return holdJSON{ID: h.ID, Account: h.Account, Pool: h.Pool, Amount: h.Amount.String(), Captured: h.Captured.String(),
		State: string(h.State), ExpiresAt: h.ExpiresAt.UTC(), CreatedAt: h.CreatedAt.UTC(), Replayed: h.Replayed}
}

// printHold prints a hold that a write returned.
func printHold(e *env, h *ledger.Hold) error {
	if e.common.json {
		return writeJSON(e.stdout, holdOut(h))
	}
	replayed := ""
	if h.Replayed {
		replayed = " (replayed)"
	}
	fmt.Fprintf(e.stdout, "hold %s of %s: %s %s, captured %s, expires %s%s\n", h.ID, h.Account, h.State, h.Amount,
		h.Captured, h.ExpiresAt.UTC().Format(time.RFC3339), replayed)
	return nil
}

type holdCmd struct {
	key, description string
	pool, feature    string
	ttl              durationFlag
	meta             metaFlag
}

func holdFlags(fs *flag.FlagSet) runner {
	c := &holdCmd{meta: metaFlag{}}
	fs.StringVar(&c.key, "key", "", "idempotency key (default: none, the call is not deduplicated)")
	fs.Var(&c.ttl, "ttl", fmt.Sprintf("how long the hold lasts unless captured or released, at most %s (default %s)", ledger.MaxHoldTTL, ledger.DefaultHoldTTL))
	spendFlags(fs, &c.pool, &c.feature)
	describe(fs, &c.description, c.meta)
	return c
}

func (c *holdCmd) run(ctx context.Context, e *env) error {
	amount, quantity, err := spendAmount(c.feature, e.args[1])
	if err != nil {
		return err
	}
	p := ledger.HoldParams{Account: e.args[0], IdempotencyKey: c.key, Amount: amount, TTL: c.ttl.d,
		Pool: c.pool, Feature: c.feature, Quantity: quantity,
		Description: c.description, Metadata: c.meta.orNil()}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		h, err := l.Hold(ctx, p)
		if err != nil {
			return err
		}
		return printHold(e, h)
	})
}

type captureCmd struct {
	description string
	meta        metaFlag
}

func captureFlags(fs *flag.FlagSet) runner {
	c := &captureCmd{meta: metaFlag{}}
	describe(fs, &c.description, c.meta)
	return c
}

func (c *captureCmd) run(ctx context.Context, e *env) error {
	amount, err := parseAmount("AMOUNT", e.args[2])
	if err != nil {
		return err
	}
	p := ledger.CaptureParams{Account: e.args[0], HoldID: e.args[1], Amount: amount,
		Description: c.description, Metadata: c.meta.orNil()}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		rec, err := l.Capture(ctx, p)
		if err != nil {
			return err
		}
		return printReceipt(e, fmt.Sprintf("captured %s of hold %s", amount, p.HoldID), rec)
	})
}

type releaseCmd struct{ description string }

func releaseFlags(fs *flag.FlagSet) runner {
	c := &releaseCmd{}
	fs.StringVar(&c.description, "description", "", `description of the release entries (default "released")`)
	return c
}

func (c *releaseCmd) run(ctx context.Context, e *env) error {
	p := ledger.ReleaseParams{Account: e.args[0], HoldID: e.args[1], Description: c.description}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		h, err := l.ReleaseWith(ctx, p)
		if err != nil {
			return err
		}
		return printHold(e, h)
	})
}

type reverseCmd struct {
	operation, ofKey, amount, key, description string
	meta                                       metaFlag
}

func reverseFlags(fs *flag.FlagSet) runner {
	c := &reverseCmd{meta: metaFlag{}}
	fs.StringVar(&c.operation, "operation", "", "the operation id (a receipt's operationId) of the grant, consume or capture to reverse")
	fs.StringVar(&c.ofKey, "of-key", "", "instead of -operation: that call's idempotency key")
	fs.StringVar(&c.amount, "amount", "", "reverse at most this much (default: all that can still be)")
	fs.StringVar(&c.key, "key", "", "this reversal's own idempotency key (default: none)")
	describe(fs, &c.description, c.meta)
	return c
}

func (c *reverseCmd) run(ctx context.Context, e *env) error {
	if (c.operation == "") == (c.ofKey == "") {
		return usagef("give exactly one of -operation ID and -of-key KEY")
	}
	p := ledger.ReverseParams{Account: e.args[0], OperationID: c.operation, Key: c.ofKey, IdempotencyKey: c.key,
		Description: c.description, Metadata: c.meta.orNil()}
	if c.amount != "" {
		a, err := parseAmount("-amount", c.amount)
		if err != nil {
			return err
		}
		p.Amount = &a
	}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		rec, err := l.Reverse(ctx, p)
		if err != nil {
			return err
		}
		if rec.NothingToReverse && !e.common.json {
			fmt.Fprintf(e.stdout, "nothing left to reverse (reversed before, spent or expired): nothing written, available %s\n", rec.Balance)
			return nil
		}
		return printReceipt(e, "reversed", rec)
	})
}

type setPlanCmd struct {
	anchor  string
	granted bool
}

func setPlanFlags(fs *flag.FlagSet) runner {
	c := &setPlanCmd{}
	fs.StringVar(&c.anchor, "anchor", "", "when the plan started, RFC 3339 (default: now, or kept if the account is on this plan)")
	fs.BoolVar(&c.granted, "current-period-granted", false, "the current period was granted elsewhere (an import): grant it at the next period")
	return c
}

// planJSON is set-plan's -json output.
type planJSON struct {
	Account string      `json:"account"`
	Plan    string      `json:"plan"`
	Anchor  time.Time   `json:"anchor"`
	Changed bool        `json:"changed"`
	Granted string      `json:"granted"`
	Entries []entryJSON `json:"entries"`
}

func (c *setPlanCmd) run(ctx context.Context, e *env) error {
	anchor, err := parseInstant("anchor", c.anchor)
	if err != nil {
		return err
	}
	p := ledger.PlanParams{Account: e.args[0], Plan: e.args[1], Anchor: anchor, CurrentPeriodGranted: c.granted}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		res, err := l.AssignPlan(ctx, p)
		if err != nil {
			return err
		}
		if e.common.json {
			return writeJSON(e.stdout, planJSON{Account: res.Account, Plan: res.Plan, Anchor: res.Anchor.UTC(),
				Changed: res.Changed, Granted: res.Granted.String(), Entries: entriesJSON(res.Entries)})
		}
		what := "already on it, nothing changed"
		if res.Changed {
			what = "granted " + res.Granted.String()
		}
		fmt.Fprintf(e.stdout, "account %s on plan %s (anchor %s): %s\n", res.Account, res.Plan,
			res.Anchor.UTC().Format(time.RFC3339), what)
		return printEntries(e, res.Entries)
	})
}

// holdsCmd is holds' options.
type holdsCmd struct{}

func (*holdsCmd) run(ctx context.Context, e *env) error {
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		hs, err := l.Holds(ctx, e.args[0])
		if err != nil {
			return err
		}
		if e.common.json {
			out := struct {
				Account string     `json:"account"`
				Holds   []holdJSON `json:"holds"`
			}{Account: e.args[0], Holds: []holdJSON{}}
			for i := range hs {
				out.Holds = append(out.Holds, holdOut(&hs[i]))
			}
			return writeJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "account %s: %d active holds\n", e.args[0], len(hs))
		if len(hs) == 0 {
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOLD\tAMOUNT\tEXPIRES\tCREATED")
		for _, h := range hs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.ID, h.Amount, h.ExpiresAt.UTC().Format(time.RFC3339), h.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

// setLotExpiryCmd is set-lot-expiry's options.
type setLotExpiryCmd struct{}

func (*setLotExpiryCmd) run(ctx context.Context, e *env) error {
	var at *time.Time
	if e.args[2] != "never" {
		t, err := parseInstant("INSTANT", e.args[2])
		if err != nil {
			return usagef("INSTANT %q is neither an RFC 3339 instant such as 2026-12-31T23:00:00Z nor never", e.args[2])
		}
		at = &t
	}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		rec, err := l.SetLotExpiry(ctx, e.args[0], e.args[1], at)
		if err != nil {
			return err
		}
		return printReceipt(e, fmt.Sprintf("lot %s of %s now expires %s", e.args[1], e.args[0], expiryText(at)), rec)
	})
}
