package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of import-mksaas -from
	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/internal/mksaas"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/bunstore"
	"github.com/creditledger/creditledger/storage/memory"
)

// durationFlag is a time.Duration flag that refuses negative values.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string { return f.d.String() }

func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("%s is negative", s)
	}
	f.d = d
	return nil
}

// migrateCmd is migrate's options.
type migrateCmd struct {
	citus bool
}

// migrateFlags binds migrate's own flags to fs.
func migrateFlags(fs *flag.FlagSet) runner {
	o := &migrateCmd{}
	fs.BoolVar(&o.citus, "citus", false, "on a Citus coordinator: distribute the tables by account (idempotent; see docs/SCALING.md)")
	return o
}

func (o *migrateCmd) run(ctx context.Context, e *env) error {
	e.citus = o.citus
	// Opening the ledger runs the store's migrations and records the scale.
	l, store, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	db := e.db
	if e.common.json {
		return writeJSON(e.stdout, map[string]any{"db": db, "migrated": true, "scale": l.Scale(), "citus": store.Citus()})
	}
	fmt.Fprintf(e.stdout, "migrated %s (scale %d)\n", db, l.Scale())
	if store.Citus() {
		fmt.Fprintln(e.stdout, "distributed on Citus by account")
	}
	return nil
}

// verifyCmd is verify's options (its flags are in anchor.go).
type verifyCmd struct {
	anchorFile, anchorDigest string
}

func (o *verifyCmd) run(ctx context.Context, e *env) error {
	opts, err := o.verifyOpts()
	if err != nil {
		return err
	}
	l, store, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	rep, err := l.VerifyWith(ctx, opts)
	if opts != nil && errors.Is(err, ledger.ErrInvalidArgument) {
		// The anchor is not the one kept (-digest): a failure of the
		// check, exit 1, not a usage error.
		return &failure{msg: errorText(err)}
	}
	if err != nil {
		return err
	}
	if e.common.json {
		out := struct {
			OK           bool     `json:"ok"`
			Accounts     int      `json:"accounts"`
			Lots         int      `json:"lots"`
			Entries      int      `json:"entries"`
			Violations   []string `json:"violations"`
			Anchored     int      `json:"anchored"`
			AnchorBroken []string `json:"anchorBroken"`
		}{rep.OK(), rep.Accounts, rep.Lots, rep.Entries, []string{}, rep.Anchored, append([]string{}, rep.AnchorBroken...)}
		for _, v := range rep.Violations {
			out.Violations = append(out.Violations, v.String())
		}
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		for _, v := range rep.Violations {
			fmt.Fprintln(e.stdout, v.String())
		}
		fmt.Fprint(e.stdout, anchorSummary(opts, rep))
		fmt.Fprintf(e.stdout, "verified %d accounts, %d lots, %d entries: %d violations\n",
			rep.Accounts, rep.Lots, rep.Entries, len(rep.Violations))
	}
	if !rep.OK() {
		return &failure{fmt.Sprintf("%d violations", len(rep.Violations))}
	}
	return nil
}

// distributeCmd is distribute's options.
type distributeCmd struct {
	budget     durationFlag
	chunk      int
	progress   string
	expireOnly bool
}

func distributeFlags(fs *flag.FlagSet) runner {
	o := &distributeCmd{}
	fs.Var(&o.budget, "budget", "stop starting chunks after this long, e.g. 25s (default: until done)")
	fs.IntVar(&o.chunk, "chunk", 0, fmt.Sprintf("accounts per transaction (default %d)", ledger.DefaultChunkSize))
	fs.StringVar(&o.progress, "progress", "auto", "progress on stderr: auto (a bar on a terminal, else lines), bar, lines or none")
	fs.BoolVar(&o.expireOnly, "expire-only", false, "only expire due lots (ExpireDue), grant nothing")
	return o
}

// distributeJSON is distribute's -json output, a superset of the cron
// endpoint's counts.
type distributeJSON struct {
	Accounts       int    `json:"accounts"`
	Processed      int    `json:"processed"`
	Errors         int    `json:"errors"`
	Granted        int    `json:"granted"`
	GrantedCredits string `json:"grantedCredits"`
	Expired        int    `json:"expired"`
	ExpiredCredits string `json:"expiredCredits"`
	Complete       bool   `json:"complete"`
	DurationMs     int64  `json:"durationMs"`
}

func (o *distributeCmd) run(ctx context.Context, e *env) error {
	if o.chunk < 0 {
		return usagef("-chunk %d is negative", o.chunk)
	}
	mode, err := progressMode(o.progress, e.stderr)
	if err != nil {
		return err
	}
	l, store, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	var res *ledger.DistributeResult
	if o.expireOnly {
		var r *ledger.ExpireResult
		r, err = l.ExpireDue(ctx)
		if r != nil {
			res = &ledger.DistributeResult{Accounts: r.Accounts, Processed: r.Accounts, Expired: r.Expired,
				ExpiredCredits: r.ExpiredCredits, Complete: r.Complete, Duration: r.Duration}
		}
	} else {
		p := newProgress(mode, e.stderr)
		res, err = l.Distribute(ctx, &ledger.DistributeOpts{Budget: o.budget.d, ChunkSize: o.chunk, Progress: p.update})
		p.finish()
	}
	if res == nil {
		return err
	}
	if e.common.json {
		if jerr := writeJSON(e.stdout, distributeJSON{
			Accounts: res.Accounts, Processed: res.Processed, Errors: res.Errors,
			Granted: res.Granted, GrantedCredits: res.GrantedCredits.String(),
			Expired: res.Expired, ExpiredCredits: res.ExpiredCredits.String(),
			Complete: res.Complete, DurationMs: res.Duration.Milliseconds(),
		}); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprintf(e.stdout, "accounts: %d, processed: %d, errors: %d, granted: %d lots (%s credits), expired: %d lots (%s credits), complete: %t, duration: %s\n",
			res.Accounts, res.Processed, res.Errors, res.Granted, res.GrantedCredits, res.Expired, res.ExpiredCredits,
			res.Complete, res.Duration.Round(time.Millisecond))
	}
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		return &failure{fmt.Sprintf("%d accounts could not be served (see the log above)", res.Errors)}
	}
	return nil
}

type lotJSON struct {
	ID        string     `json:"id"`
	Source    string     `json:"source"`
	Amount    string     `json:"amount"`
	Remaining string     `json:"remaining"`
	Priority  int        `json:"priority"`
	ExpiresAt *time.Time `json:"expiresAt"`
	CreatedAt time.Time  `json:"createdAt"`
	// Pools and dated grants (#21): left out when default.
	Pool        string     `json:"pool,omitempty"`
	EffectiveAt *time.Time `json:"effectiveAt,omitempty"`
}

type balanceJSON struct {
	Account   string    `json:"account"`
	Available string    `json:"available"`
	Held      string    `json:"held"` // reserved by active holds, not in available
	Plan      string    `json:"plan"` // "" when none was set: the catalog's default plan applies
	At        time.Time `json:"at"`
	Lots      []lotJSON `json:"lots"`
	// The default pool's debt and dated lots, and every pool's figures
	// when the account has a pool other than the default one (#21); left
	// out otherwise, so a one-pool account prints as before.
	Owed     string              `json:"owed,omitempty"`
	Upcoming []lotJSON           `json:"upcoming,omitempty"`
	Pools    map[string]poolJSON `json:"pools,omitempty"`
}

type poolJSON struct {
	Available string    `json:"available"`
	Held      string    `json:"held"`
	Owed      string    `json:"owed"`
	Lots      []lotJSON `json:"lots"`
	Upcoming  []lotJSON `json:"upcoming"`
}

func lotsJSON(lots []ledger.Lot) []lotJSON {
	out := []lotJSON{}
	for _, lot := range lots {
		out = append(out, lotJSON{ID: lot.ID, Source: lot.Source, Amount: lot.Amount.String(),
			Remaining: lot.Remaining.String(), Priority: lot.Priority, ExpiresAt: utcPtr(lot.ExpiresAt), CreatedAt: lot.CreatedAt.UTC(),
			Pool: lot.Pool, EffectiveAt: utcPtr(lot.EffectiveAt)})
	}
	return out
}

// otherPools returns the pools of b other than the default one, sorted.
func otherPools(b *ledger.Balance) []string {
	var out []string
	for p := range b.Pools {
		if p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// balanceCmd is balance's options.
type balanceCmd struct{}

func (*balanceCmd) run(ctx context.Context, e *env) error {
	l, store, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	b, err := l.Balance(ctx, e.args[0])
	if err != nil {
		return err
	}
	if e.common.json {
		out := balanceJSON{Account: b.Account, Available: b.Available.String(), Held: b.Held.String(), Plan: b.Plan, At: b.At.UTC(),
			Lots: lotsJSON(b.Lots)}
		if !b.Owed.IsZero() {
			out.Owed = b.Owed.String()
		}
		if len(b.Upcoming) > 0 {
			out.Upcoming = lotsJSON(b.Upcoming)
		}
		if len(otherPools(b)) > 0 {
			out.Pools = map[string]poolJSON{}
			for name, p := range b.Pools {
				out.Pools[name] = poolJSON{Available: p.Available.String(), Held: p.Held.String(), Owed: p.Owed.String(),
					Lots: lotsJSON(p.Lots), Upcoming: lotsJSON(p.Upcoming)}
			}
		}
		return writeJSON(e.stdout, out)
	}
	plan := b.Plan
	if plan == "" {
		plan = "none set"
		if d := e.catalog.DefaultPlan; d != "" {
			plan += ", so the default " + d
		}
	}
	held := ""
	if !b.Held.IsZero() {
		held = ", " + b.Held.String() + " held"
	}
	fmt.Fprintf(e.stdout, "account %s: %s available%s%s (plan: %s)\n", b.Account, b.Available, held, owedText(b.Owed), plan)
	if err := printLots(e, b.Lots, b.Upcoming); err != nil {
		return err
	}
	// Every other pool, after the default one's (which is what a
	// one-pool account shows, as before pools).
	for _, name := range otherPools(b) {
		p := b.Pools[name]
		held := ""
		if !p.Held.IsZero() {
			held = ", " + p.Held.String() + " held"
		}
		fmt.Fprintf(e.stdout, "pool %s: %s available%s%s\n", name, p.Available, held, owedText(p.Owed))
		if err := printLots(e, p.Lots, p.Upcoming); err != nil {
			return err
		}
	}
	return nil
}

// owedText is ", N owed", or "" when nothing is owed.
func owedText(owed decimal.Decimal) string {
	if owed.IsZero() {
		return ""
	}
	return ", " + owed.String() + " owed"
}

// printLots prints lots as a table, then the upcoming (dated) ones;
// nothing when there are none.
func printLots(e *env, lots, upcoming []ledger.Lot) error {
	if len(lots) == 0 && len(upcoming) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOT\tSOURCE\tREMAINING\tAMOUNT\tEXPIRES")
	row := func(lot ledger.Lot, suffix string) {
		exp := "never"
		if lot.ExpiresAt != nil {
			exp = lot.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", lot.ID, lot.Source, lot.Remaining, lot.Amount, exp, suffix)
	}
	for _, lot := range lots {
		row(lot, "")
	}
	for _, lot := range upcoming {
		row(lot, "  (from "+lot.EffectiveAt.UTC().Format(time.RFC3339)+")")
	}
	return tw.Flush()
}

// entriesCmd is entries' options.
type entriesCmd struct {
	limit  int
	cursor string
	pool   poolFlag
}

// poolFlag is a -pool flag: whether it was given ("" names the default
// pool), and its value.
type poolFlag struct {
	set  bool
	name string
}

func (f *poolFlag) String() string { return f.name }

func (f *poolFlag) Set(s string) error {
	f.set, f.name = true, s
	return nil
}

func entriesFlags(fs *flag.FlagSet) runner {
	o := &entriesCmd{}
	fs.IntVar(&o.limit, "limit", ledger.DefaultPageSize, fmt.Sprintf("entries per page, at most %d", ledger.MaxPageSize))
	fs.StringVar(&o.cursor, "cursor", "", "the next cursor a previous page printed")
	fs.Var(&o.pool, "pool", `only the entries of this credit pool ("" for the default pool); default: every pool`)
	return o
}

type entryJSON struct {
	ID           string            `json:"id"`
	Kind         string            `json:"kind"`
	Amount       string            `json:"amount"`
	BalanceAfter string            `json:"balanceAfter"`
	Source       string            `json:"source"`
	LotID        string            `json:"lotId"`
	OperationID  string            `json:"operationId"`
	Description  string            `json:"description,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
	// Pools and feature prices (#21): left out when default.
	Pool     string `json:"pool,omitempty"`
	Feature  string `json:"feature,omitempty"`
	Quantity string `json:"quantity,omitempty"`
}

// entriesJSON converts entries for -json output; never nil, so that an
// empty list prints as [].
func entriesJSON(es []ledger.Entry) []entryJSON {
	out := make([]entryJSON, 0, len(es))
	for _, en := range es {
		j := entryJSON{ID: en.ID, Kind: string(en.Kind), Amount: en.Amount.String(),
			BalanceAfter: en.BalanceAfter.String(), Source: en.Source, LotID: en.LotID, OperationID: en.OperationID,
			Description: en.Description, Metadata: en.Metadata, CreatedAt: en.CreatedAt.UTC(), Pool: en.Pool, Feature: en.Feature}
		if en.Feature != "" {
			j.Quantity = en.Quantity.String()
		}
		out = append(out, j)
	}
	return out
}

// printEntries prints entries as a table; nothing when there are none.
func printEntries(e *env, es []ledger.Entry) error {
	if len(es) == 0 {
		return nil
	}
	// A POOL and a FEATURE column only when an entry has one, so that a
	// one-pool history prints as before pools.
	pools, features := false, false
	for _, en := range es {
		pools = pools || en.Pool != ""
		features = features || en.Feature != ""
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	head := "TIME\tKIND\tAMOUNT\tBALANCE\tSOURCE\tDESCRIPTION"
	if pools {
		head += "\tPOOL"
	}
	if features {
		head += "\tFEATURE"
	}
	fmt.Fprintln(tw, head)
	for _, en := range es {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", en.CreatedAt.UTC().Format(time.RFC3339), en.Kind, en.Amount,
			en.BalanceAfter, en.Source, en.Description)
		if pools {
			pool := en.Pool
			if pool == "" {
				pool = "-"
			}
			line += "\t" + pool
		}
		if features && en.Feature != "" {
			line += "\t" + en.Feature + " x " + en.Quantity.String()
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func (o *entriesCmd) run(ctx context.Context, e *env) error {
	if o.limit < 1 || o.limit > ledger.MaxPageSize {
		return usagef("-limit %d is outside 1..%d", o.limit, ledger.MaxPageSize)
	}
	l, store, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	opts := &ledger.ListOpts{Limit: o.limit, Cursor: o.cursor}
	if o.pool.set {
		opts.Pool = &o.pool.name
	}
	page, err := l.Entries(ctx, e.args[0], opts)
	if err != nil {
		return err
	}
	if e.common.json {
		out := struct {
			Account    string      `json:"account"`
			Entries    []entryJSON `json:"entries"`
			NextCursor string      `json:"nextCursor"`
		}{Account: e.args[0], Entries: entriesJSON(page.Entries), NextCursor: page.NextCursor}
		return writeJSON(e.stdout, out)
	}
	if len(page.Entries) == 0 {
		fmt.Fprintf(e.stdout, "account %s: no entries\n", e.args[0])
	}
	if err := printEntries(e, page.Entries); err != nil {
		return err
	}
	if page.NextCursor != "" {
		fmt.Fprintf(e.stdout, "more: -cursor %s\n", page.NextCursor)
	}
	return nil
}

// importCmd is import-mksaas's options.
type importCmd struct {
	from, planMap, tz string
	dryRun            bool
}

func importFlags(fs *flag.FlagSet) runner {
	o := &importCmd{}
	fs.StringVar(&o.from, "from", "", "the MkSaaS PostgreSQL database, postgres://... (required)")
	fs.StringVar(&o.planMap, "plan-map", "", "PRICE_ID=PLAN,... : the catalog plan of each MkSaaS price id (lifetime, yearly, monthly)")
	fs.StringVar(&o.tz, "tz", "UTC", "IANA zone MkSaaS's zone-less timestamps were written in (its server's zone)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "read and report; the ledger's database is not even opened")
	return o
}

type importJSON struct {
	DryRun         bool           `json:"dryRun"`
	Users          int            `json:"users"`
	Plans          map[string]int `json:"plans"`
	PeriodsGranted int            `json:"periodsGranted"`
	Lots           int            `json:"lots"`
	Credits        string         `json:"credits"`
	ExpiredLots    int            `json:"expiredLots"`
	ExpiredCredits string         `json:"expiredCredits"`
	Written        int            `json:"written"`
	Existing       int            `json:"existing"`
	Failed         []failureJSON  `json:"failed"`
	Skipped        []skippedJSON  `json:"skipped"`
	Mismatches     []mismatchJSON `json:"mismatches"`
}

type skippedJSON struct {
	User    string `json:"user"`
	Lots    int    `json:"lots"`
	Credits string `json:"credits"`
	Error   string `json:"error"`
}

type failureJSON struct {
	Transaction string `json:"transaction"`
	User        string `json:"user"`
	Error       string `json:"error"`
}

type mismatchJSON struct {
	User           string `json:"user"`
	CurrentCredits int64  `json:"currentCredits"`
	OpenLots       int64  `json:"openLots"`
}

func (o *importCmd) run(ctx context.Context, e *env) error {
	if o.from == "" {
		return usagef("-from DSN is required")
	}
	planMap, err := mksaas.ParsePlanMap(o.planMap)
	if err != nil {
		return usagef("-plan-map: %v", err)
	}
	if o.tz == "Local" {
		return usagef(`-tz "Local" depends on this machine; give the IANA zone of the MkSaaS server`)
	}
	loc, err := time.LoadLocation(o.tz)
	if err != nil {
		return usagef("-tz %q: %v", o.tz, err)
	}
	fmt.Fprintf(e.stderr, "creditledger: MkSaaS database %s\n", describeDSN(o.from))
	src, err := sql.Open("pgx", o.from)
	if err != nil {
		return fmt.Errorf("-from %s: %w", describeDSN(o.from), err)
	}
	defer src.Close()
	var l *ledger.Ledger
	if o.dryRun {
		// A dry run needs only the catalog: the ledger's database is not
		// even opened.
		fmt.Fprintln(e.stderr, "creditledger: database none (a dry run does not open it)")
		if l, err = ledger.New(memory.New(), &ledger.Config{Scale: e.common.scale.n, Catalog: e.catalog, Logger: e.logger}); err != nil {
			return err
		}
	} else {
		var store *bunstore.Store
		if l, store, err = e.open(ctx); err != nil {
			return err
		}
		defer store.Close()
	}
	rep, err := mksaas.Import(ctx, l, src, mksaas.Options{PlanMap: planMap, Location: loc, DryRun: o.dryRun, Logger: e.logger})
	if err != nil {
		if errors.Is(err, ledger.ErrUnknownPlan) {
			return usagef("%v", err)
		}
		return fmt.Errorf("from %s: %w", describeDSN(o.from), err)
	}
	if e.common.json {
		out := importJSON{DryRun: rep.DryRun, Users: rep.Users, Plans: rep.Plans, PeriodsGranted: rep.PeriodsGranted,
			Lots: rep.Lots, Credits: rep.Credits.String(), ExpiredLots: rep.ExpiredLots, ExpiredCredits: rep.ExpiredCredits.String(),
			Written: rep.Written, Existing: rep.Existing, Failed: []failureJSON{}, Skipped: []skippedJSON{}, Mismatches: []mismatchJSON{}}
		for _, f := range rep.Failed {
			out.Failed = append(out.Failed, failureJSON{Transaction: f.TransactionID, User: f.User, Error: f.Err.Error()})
		}
		for _, s := range rep.Skipped {
			out.Skipped = append(out.Skipped, skippedJSON{User: s.User, Lots: s.Lots, Credits: s.Credits.String(), Error: s.Err.Error()})
		}
		for _, m := range rep.Mismatches {
			out.Mismatches = append(out.Mismatches, mismatchJSON{User: m.User, CurrentCredits: m.CurrentCredits, OpenLots: m.OpenLots})
		}
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		printImport(e, rep)
	}
	if len(rep.Failed) > 0 || len(rep.Skipped) > 0 {
		return &failure{fmt.Sprintf("%d lots could not be imported, %d users were skipped", len(rep.Failed), len(rep.Skipped))}
	}
	return nil
}

func printImport(e *env, rep *mksaas.Report) {
	w := e.stdout
	if rep.DryRun {
		fmt.Fprintln(w, "dry run: nothing written")
	}
	fmt.Fprintf(w, "users: %d\n", rep.Users)
	for _, p := range sortedKeys(rep.Plans) {
		fmt.Fprintf(w, "  plan %s: %d\n", p, rep.Plans[p])
	}
	fmt.Fprintf(w, "current period already granted by MkSaaS: %d users\n", rep.PeriodsGranted)
	fmt.Fprintf(w, "open lots: %d (%s credits)\n", rep.Lots, rep.Credits)
	fmt.Fprintf(w, "expired lots MkSaaS had not swept, not imported: %d (%s credits)\n", rep.ExpiredLots, rep.ExpiredCredits)
	if !rep.DryRun {
		fmt.Fprintf(w, "lots written: %d, already imported: %d, failed: %d\n", rep.Written, rep.Existing, len(rep.Failed))
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(w, "  failed: transaction %s of %s: %v\n", f.TransactionID, f.User, f.Err)
	}
	fmt.Fprintf(w, "users skipped, not imported: %d\n", len(rep.Skipped))
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "  skipped: user %q (%d lots, %s credits): %v\n", s.User, s.Lots, s.Credits, s.Err)
	}
	fmt.Fprintf(w, "users whose current_credits disagrees with their open lots: %d\n", len(rep.Mismatches))
	for _, m := range rep.Mismatches {
		fmt.Fprintf(w, "  %s: current_credits %d, open lots %d\n", m.User, m.CurrentCredits, m.OpenLots)
	}
}

// catalogCmd is catalog's options.
type catalogCmd struct{}

func (*catalogCmd) run(_ context.Context, e *env) error {
	data, err := json.MarshalIndent(e.catalog, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", data)
	return err
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
