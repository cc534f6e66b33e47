package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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
