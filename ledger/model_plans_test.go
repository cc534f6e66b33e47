package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// modelCatalog is testCatalog with the plans v0.3 adds: one whose default
// pool may overdraw by 40, one rolling half its grant over, and one
// granted per invoice, rolling at most 10 over. Consume steps overdraw on
// "metered", distribute steps roll "rolling" over, plansStep grants
// invoices.
func modelCatalog() *policy.Catalog {
	c := testCatalog(nil)
	c.Plans = append(c.Plans,
		policy.Plan{ID: "metered", Allocation: policy.MonthlyCalendar(d("30"), "monthly_refresh"), Expiry: policy.AtPeriodEnd(),
			Overdraft: map[string]decimal.Decimal{"": d("40")}},
		policy.Plan{ID: "rolling", Allocation: policy.MonthlyCalendar(d("40"), "monthly_refresh"), Expiry: policy.AtPeriodEnd(),
			Rollover: &policy.Rollover{Percent: 50}},
		policy.Plan{ID: "invoiced", Allocation: policy.PerInvoice(d("25"), ""), Expiry: policy.AfterDays(30),
			Rollover: &policy.Rollover{Max: d("10")}},
	)
	return c
}

// plansStep is a step of v0.3's plans: a paid invoice (redelivered
// sometimes, or with another period: a conflict), or a move onto the
// overdraft or rollover plan.
func (p *modelPair) plansStep(t *testing.T, rng *rand.Rand, acct string) string {
	t.Helper()
	ctx := t.Context()
	if rng.IntN(3) == 0 {
		pp := ledger.PlanParams{Account: acct, Plan: []string{"metered", "rolling"}[rng.IntN(2)]}
		merr := p.model.SetPlan(ctx, pp)
		serr := p.subject.SetPlan(ctx, pp)
		p.requireSameClass(t, merr, serr, fmt.Sprintf("set plan %+v", pp))
		return "set plan " + pp.Plan
	}
	// Invoices of the months around the clock; an id names one month,
	// mostly (a few ids come back with another month: a conflict).
	n := rng.IntN(12)
	month := n
	if rng.IntN(8) == 0 {
		month = n + 1
	}
	ip := ledger.InvoiceParams{Account: acct, Plan: "invoiced", InvoiceID: "in_" + strconv.Itoa(n),
		PeriodStart: t0.AddDate(0, month-3, 0).Add(time.Duration(n) * time.Hour)}
	mr, merr := p.model.GrantInvoice(ctx, ip)
	sr, serr := p.subject.GrantInvoice(ctx, ip)
	p.compareReceipts(t, mr, merr, sr, serr, fmt.Sprintf("grant invoice %+v", ip))
	p.recordOp(acct, mr, sr)
	return "grant invoice"
}

func (p *modelPair) requireSameClass(t *testing.T, merr, serr error, what string) {
	t.Helper()
	if errClass(merr) != errClass(serr) {
		t.Fatalf("%s: model %v, subject %v", what, merr, serr)
	}
}
