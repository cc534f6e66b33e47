// Package mksaas imports the credits of a MkSaaS database (the reference
// system, see REFERENCE.md) into a ledger: its open lots with their
// expiries, and each user's plan, marking the current period as granted
// where MkSaaS already granted it. It backs `creditledger import-mksaas`.
//
// The import is idempotent: lots are granted under the keys
// "mksaas:<credit_transaction.id>", plans are set with SetPlans (which
// changes nothing for an unchanged plan and anchor), so a second run
// writes nothing. A dry run reads and reports without writing.
package mksaas

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// KeyPrefix starts the idempotency key of every imported lot; the rest is
// the credit_transaction id.
const KeyPrefix = "mksaas:"

// Options configure an import.
type Options struct {
	// PlanMap maps MkSaaS price ids (payment.price_id) to plan ids of the
	// ledger's catalog. A user's plan comes from their latest payment
	// whose price is mapped: a one-time payment (a lifetime purchase)
	// that was paid, or a subscription that is active or trialing. Users
	// with none are put on the catalog's default plan. Payments of
	// unmapped prices (credit packs) are ignored, so a pack bought after
	// a subscription does not drop the user, as it does in MkSaaS.
	PlanMap map[string]string
	// Location is the zone MkSaaS's zone-less timestamps were written in
	// (its server's clock). Nil: UTC.
	Location *time.Location
	// Now is the instant of the import: lots expired at it are left out,
	// and the current periods are those containing it. Zero: time.Now().
	// It should be the ledger's clock.
	Now time.Time
	// DryRun reads and reports without writing anything.
	DryRun bool
	// Logger receives a line per user whose grant failed. Nil:
	// slog.Default().
	Logger *slog.Logger
}

// Report says what an import found and did.
type Report struct {
	DryRun bool
	// Users is the number of users met in user_credit,
	// credit_transaction and payment; Plans counts them per plan given.
	Users int
	Plans map[string]int
	// PeriodsGranted counts users whose current period MkSaaS had
	// granted already, which the ledger will not grant again.
	PeriodsGranted int
	// Lots and Credits are the open lots (remaining > 0, not expired at
	// Now) found, and their remaining credits.
	Lots    int
	Credits decimal.Decimal
	// ExpiredLots and ExpiredCredits are lots that expired but that
	// MkSaaS's sweep had not yet written off: not imported.
	ExpiredLots    int
	ExpiredCredits decimal.Decimal
	// Written counts the lots granted by this run; Existing those that an
	// earlier run had imported with the same parameters (a rerun writes
	// nothing). Both are 0 in a dry run.
	Written, Existing int
	// Failed lists the lots that could not be granted (a key imported
	// before with other parameters because the MkSaaS row changed since,
	// say), with why.
	Failed []Failure
	// Skipped lists the users the ledger cannot take (an id over
	// ledger.MaxIDLength bytes, not UTF-8, or an anchor out of range),
	// with why: neither their plan nor their lots are imported (their
	// lots are not in Lots and Credits), and the other users are.
	Skipped []Skipped
	// Mismatches lists the users whose user_credit.current_credits
	// disagrees with the sum of their open lots (MkSaaS's own defects:
	// lost updates, unswept expiries), by user id.
	Mismatches []Mismatch
}

// Failure is a lot that could not be granted.
type Failure struct {
	TransactionID, User string
	Err                 error
}

// Skipped is a user the import left out, and why.
type Skipped struct {
	User    string
	Lots    int             // their open lots, not imported
	Credits decimal.Decimal // the remaining of those lots
	Err     error           // wraps ledger.ErrInvalidArgument
}

// Mismatch is a user whose MkSaaS balance disagrees with their lots.
type Mismatch struct {
	User           string
	CurrentCredits int64 // user_credit.current_credits (0 without a row)
	OpenLots       int64 // the sum of remaining over their open lots
}

// ParsePlanMap parses "PRICE_ID=PLAN,PRICE_ID=PLAN,..." (spaces around
// items are ignored; empty: no mapping). Errors wrap
// ledger.ErrInvalidArgument and name the bad item.
func ParsePlanMap(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		price, plan, ok := strings.Cut(item, "=")
		price, plan = strings.TrimSpace(price), strings.TrimSpace(plan)
		if !ok || price == "" || plan == "" {
			return nil, fmt.Errorf("%w: plan map item %q is not PRICE_ID=PLAN", ledger.ErrInvalidArgument, item)
		}
		if prev, dup := m[price]; dup && prev != plan {
			return nil, fmt.Errorf("%w: plan map gives price %q two plans (%q, %q)", ledger.ErrInvalidArgument, price, prev, plan)
		}
		m[price] = plan
	}
	return m, nil
}

// Import reads the MkSaaS database src and writes its credits into l
// (nothing with DryRun), then reports.
//
// Errors: ledger.ErrUnknownPlan when PlanMap names a plan the ledger's
// catalog lacks, ledger.ErrInvalidArgument when the catalog has no
// default plan yet users need one, or the source's read error; nothing is
// written then. Users the ledger cannot take are listed in
// Report.Skipped, lots that fail one by one in Report.Failed; neither
// stops the import.
func Import(ctx context.Context, l *ledger.Ledger, src *sql.DB, opts Options) (*Report, error) {
	cat := l.Catalog()
	for price, plan := range opts.PlanMap {
		if _, ok := cat.Plan(plan); !ok {
			return nil, fmt.Errorf("%w: plan map: price %q maps to plan %q, which the catalog lacks", ledger.ErrUnknownPlan, price, plan)
		}
	}
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// A current period is at most a month long (the built-in allocations);
	// reading two months of scheduled grants is ample.
	s, err := read(ctx, src, loc, now.AddDate(0, -2, 0))
	if err != nil {
		return nil, fmt.Errorf("mksaas: %w", err)
	}
	plan, err := decide(s, cat, opts.PlanMap, now, l.CheckPlan)
	if err != nil {
		return nil, err
	}
	rep := plan.report
	rep.DryRun = opts.DryRun
	if opts.DryRun {
		return rep, nil
	}
	if len(plan.plans) > 0 {
		if err := l.SetPlans(ctx, plan.plans); err != nil {
			return rep, fmt.Errorf("mksaas: set plans: %w", err)
		}
	}
	for _, sk := range rep.Skipped {
		logger.LogAttrs(ctx, slog.LevelWarn, "mksaas: user not imported",
			slog.String("user", sk.User), slog.Int("lots", sk.Lots), slog.String("error", sk.Err.Error()))
	}
	for _, g := range plan.grants {
		rec, err := l.Grant(ctx, g.params)
		if err != nil {
			if ctx.Err() != nil {
				return rep, fmt.Errorf("mksaas: %w", ctx.Err())
			}
			logger.LogAttrs(ctx, slog.LevelWarn, "mksaas: lot not imported",
				slog.String("transaction", g.id), slog.String("user", g.params.Account), slog.String("error", err.Error()))
			rep.Failed = append(rep.Failed, Failure{TransactionID: g.id, User: g.params.Account, Err: err})
			continue
		}
		if rec.Replayed {
			rep.Existing++
		} else {
			rep.Written++
		}
	}
	return rep, nil
}

// importPlan is what an import will write.
type importPlan struct {
	plans  []ledger.PlanParams
	grants []lotGrant
	report *Report
}

type lotGrant struct {
	id     string
	params ledger.GrantParams
}

// decide works out, without I/O, the plans and grants of the users in s;
// check says why the ledger would refuse a user's plan params (their id,
// their anchor), and such users are skipped.
func decide(s *source, cat *policy.Catalog, planMap map[string]string, now time.Time, check func(ledger.PlanParams) error) (*importPlan, error) {
	rep := &Report{Users: len(s.users), Plans: map[string]int{}, Credits: decimal.Zero, ExpiredCredits: decimal.Zero}
	out := &importPlan{report: rep}

	latest := latestPayments(s.payments, planMap)
	refreshes := map[string][]time.Time{}
	for _, r := range s.refreshes {
		refreshes[r.User] = append(refreshes[r.User], r.CreatedAt)
	}
	skipped := map[string]int{} // user -> index in rep.Skipped
	for _, u := range s.users {
		p := ledger.PlanParams{Account: u}
		if pay, ok := latest[u]; ok {
			p.Plan = planMap[pay.PriceID]
			p.Anchor = pay.CreatedAt // a lifetime purchase: its month starts then
			if pay.Type == "subscription" && pay.PeriodStart != nil {
				p.Anchor = *pay.PeriodStart
			}
		} else {
			if cat == nil || cat.DefaultPlan == "" {
				return nil, fmt.Errorf("%w: user %q has no mapped payment and the catalog has no default plan", ledger.ErrInvalidArgument, u)
			}
			p.Plan = cat.DefaultPlan
		}
		if err := check(p); err != nil && !errors.Is(err, ledger.ErrUnknownPlan) {
			// An unknown plan is the plan map's fault, not the user's:
			// SetPlans refuses it below and the import stops.
			skipped[u] = len(rep.Skipped)
			rep.Skipped = append(rep.Skipped, Skipped{User: u, Credits: decimal.Zero, Err: err})
			continue
		}
		p.CurrentPeriodGranted = periodGranted(cat, p, refreshes[u], now)
		if p.CurrentPeriodGranted {
			rep.PeriodsGranted++
		}
		rep.Plans[p.Plan]++
		out.plans = append(out.plans, p)
	}

	open := map[string]int64{}
	for _, lot := range s.lots {
		amount := decimal.NewFromInt(lot.Remaining)
		if lot.ExpiresAt != nil && !lot.ExpiresAt.After(now) {
			rep.ExpiredLots++
			rep.ExpiredCredits = rep.ExpiredCredits.Add(amount)
			continue
		}
		open[lot.User] += lot.Remaining
		if i, ok := skipped[lot.User]; ok {
			sk := &rep.Skipped[i]
			sk.Lots++
			sk.Credits = sk.Credits.Add(amount)
			continue
		}
		rep.Lots++
		rep.Credits = rep.Credits.Add(amount)
		out.grants = append(out.grants, lotGrant{id: lot.ID, params: ledger.GrantParams{
			Account:        lot.User,
			Source:         strings.ToLower(lot.Type),
			IdempotencyKey: KeyPrefix + lot.ID,
			Description:    truncate(strings.TrimSuffix("mksaas: "+lot.Description, ": "), ledger.MaxDescriptionLength),
			Amount:         amount,
			ExpiresAt:      lot.ExpiresAt,
			Metadata: map[string]string{
				"mksaas_id":         lot.ID,
				"mksaas_created_at": lot.CreatedAt.Format(time.RFC3339Nano),
			},
		}})
	}
	for _, u := range s.users {
		if cur := s.balances[u]; cur != open[u] {
			rep.Mismatches = append(rep.Mismatches, Mismatch{User: u, CurrentCredits: cur, OpenLots: open[u]})
		}
	}
	return out, nil
}

// paidStatuses are the payment statuses that give a plan: Stripe's
// subscription states that are paid for, and MkSaaS's states of a paid
// one-time payment.
var paidStatuses = map[string]map[string]bool{
	"subscription": {"active": true, "trialing": true},
	"one_time":     {"completed": true, "paid": true, "succeeded": true, "active": true},
}

// latestPayments returns each user's latest payment that gives a plan.
// payments are ordered by user and creation.
func latestPayments(payments []paymentRow, planMap map[string]string) map[string]paymentRow {
	out := map[string]paymentRow{}
	for _, p := range payments {
		if _, mapped := planMap[p.PriceID]; !mapped || !paidStatuses[p.Type][p.Status] {
			continue
		}
		if prev, ok := out[p.User]; !ok || !p.CreatedAt.Before(prev.CreatedAt) {
			out[p.User] = p
		}
	}
	return out
}

// periodGranted reports whether MkSaaS made a scheduled grant inside the
// current period of p's plan: the period the ledger computes, from the
// anchor SetPlans will record (now for a zero anchor).
func periodGranted(cat *policy.Catalog, p ledger.PlanParams, grants []time.Time, now time.Time) bool {
	plan, ok := cat.Plan(p.Plan)
	if !ok || plan.Allocation == nil || len(grants) == 0 {
		return false
	}
	anchor := p.Anchor
	if anchor.IsZero() {
		anchor = now
	}
	due, ok := plan.Allocation.Allocate(policy.Account{ID: p.Account, Plan: p.Plan, Anchor: anchor, CreatedAt: now}, now, cat.Loc())
	if !ok {
		return false
	}
	for _, t := range grants {
		if !t.Before(due.Period.Start) && t.Before(due.Period.End) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary.
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

// SortedPlans returns the report's plan counts in plan order, for
// printing.
func (r *Report) SortedPlans() []PlanCount {
	out := make([]PlanCount, 0, len(r.Plans))
	for p, n := range r.Plans {
		out = append(out, PlanCount{Plan: p, Users: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Plan < out[j].Plan })
	return out
}

// PlanCount is a plan and its number of users.
type PlanCount struct {
	Plan  string
	Users int
}

// Err joins the failures into one error, nil when there is none.
func (r *Report) Err() error {
	errs := make([]error, len(r.Failed))
	for i, f := range r.Failed {
		errs[i] = fmt.Errorf("transaction %s of user %s: %w", f.TransactionID, f.User, f.Err)
	}
	return errors.Join(errs...)
}
