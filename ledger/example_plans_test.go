package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/memory"
)

func ExampleLedger_GrantInvoice() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock, Catalog: policy.ReferenceCatalog()})

	// Stripe's invoice.paid webhook for a monthly subscriber.
	p := ledger.InvoiceParams{Account: "user_9", Plan: "pro_monthly", InvoiceID: "in_1001",
		PeriodStart: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)}
	rec, _ := l.GrantInvoice(ctx, p)
	e := rec.Entries[0]
	fmt.Println(e.Source, e.Amount, e.Description)
	b, _ := l.Balance(ctx, "user_9")
	fmt.Println("expires:", b.Lots[0].ExpiresAt.Format(time.DateOnly))

	rec, _ = l.GrantInvoice(ctx, p) // delivered again
	fmt.Println("balance:", rec.Balance, "replayed:", rec.Replayed)

	p.PeriodStart = p.PeriodStart.AddDate(0, 1, 0) // the same invoice, another period
	_, err := l.GrantInvoice(ctx, p)
	fmt.Println(errors.Is(err, ledger.ErrIdempotencyConflict))
	// Output:
	// subscription_renewal 1000 invoice in_1001 of plan pro_monthly
	// expires: 2026-12-26
	// balance: 1000 replayed: true
	// true
}

func ExampleLedger_Consume_overdraft() {
	ctx := context.Background()
	// Usage may run 50 credits past zero on the "metered" plan.
	cat := &policy.Catalog{Plans: []policy.Plan{{ID: "metered", Overdraft: map[string]decimal.Decimal{"": decimal.NewFromInt(50)}}}}
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock, Catalog: cat})
	_ = l.SetPlan(ctx, ledger.PlanParams{Account: "u", Plan: "metered"})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "pack-1", Amount: decimal.NewFromInt(30)})

	// A request that costs more than is left still succeeds.
	_, _ = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(70)})
	b, _ := l.Balance(ctx, "u")
	fmt.Println("available:", b.Available, "owed:", b.Owed)
	_, err := l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(11)})
	fmt.Println(errors.Is(err, ledger.ErrInsufficientCredits))

	// The next pack pays the debt first.
	rec, _ := l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "pack-2", Amount: decimal.NewFromInt(100), Description: "pack"})
	for _, e := range rec.Entries {
		fmt.Println(e.Kind, e.Amount, e.Description)
	}
	fmt.Println("available:", rec.Balance)
	// Output:
	// available: 0 owed: 40
	// true
	// grant 100 pack
	// settle -40 paid debt
	// settle 40 debt paid
	// available: 60
}
