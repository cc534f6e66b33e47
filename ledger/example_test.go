package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/memory"
)

// fixedClock makes the examples' output stable.
func fixedClock() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }

func ExampleLedger_Grant() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock})

	expires := fixedClock().AddDate(0, 0, 30)
	p := ledger.GrantParams{
		Account:        "user_42",
		Source:         "purchase_package",
		IdempotencyKey: "invoice_in_1001", // the payment's id: a retried webhook grants once
		Amount:         decimal.NewFromInt(100),
		ExpiresAt:      &expires,
	}
	rec, err := l.Grant(ctx, p)
	if err != nil {
		panic(err)
	}
	fmt.Println("balance:", rec.Balance, "replayed:", rec.Replayed)

	rec, _ = l.Grant(ctx, p) // the webhook is delivered again
	fmt.Println("balance:", rec.Balance, "replayed:", rec.Replayed)
	// Output:
	// balance: 100 replayed: false
	// balance: 100 replayed: true
}

func ExampleLedger_Consume() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock})
	soon := fixedClock().Add(24 * time.Hour)
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "pack", Amount: decimal.NewFromInt(10)})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "gift", Amount: decimal.NewFromInt(5), ExpiresAt: &soon})

	// The soonest-expiring credits are spent first.
	rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(7), Description: "image generation"})
	if err != nil {
		panic(err)
	}
	for _, e := range rec.Entries {
		fmt.Println(e.Kind, e.Amount, "balance after", e.BalanceAfter)
	}
	fmt.Println("available:", rec.Balance)

	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(9)})
	fmt.Println(errors.Is(err, ledger.ErrInsufficientCredits))
	// Output:
	// consume -5 balance after 10
	// consume -2 balance after 8
	// available: 8
	// true
}

func ExampleLedger_Balance() {
	ctx := context.Background()
	now := fixedClock()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: func() time.Time { return now }})
	expires := now.Add(time.Hour)
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "a", Amount: decimal.NewFromInt(50), ExpiresAt: &expires, Source: "monthly_refresh"})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "b", Amount: decimal.NewFromInt(20), Source: "purchase_package"})

	b, _ := l.Balance(ctx, "u")
	fmt.Println("available:", b.Available)
	for _, lot := range b.Lots {
		fmt.Println(lot.Source, lot.Remaining, lot.ExpiresAt != nil)
	}

	// Expiry is exact to the instant, swept or not.
	now = expires
	b, _ = l.Balance(ctx, "u")
	fmt.Println("available:", b.Available)
	// Output:
	// available: 70
	// monthly_refresh 50 true
	// purchase_package 20 false
	// available: 20
}
