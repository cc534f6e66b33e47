package ledger_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/memory"
)

// A metered AI call: reserve the most it can cost, run it, then capture
// what it actually cost; the rest goes back at once.
func ExampleLedger_Hold() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "pack", Amount: decimal.NewFromInt(100)})

	h, err := l.Hold(ctx, ledger.HoldParams{
		Account:        "u",
		IdempotencyKey: "gen_7f3a", // the call's id: a retried request holds once
		Amount:         decimal.NewFromInt(30),
		TTL:            10 * time.Minute, // released by itself if the worker dies
	})
	if err != nil {
		panic(err) // ledger.ErrInsufficientCredits: refuse the call
	}
	bal, _ := l.Balance(ctx, "u")
	fmt.Println("held:", bal.Held, "available:", bal.Available, "until", h.ExpiresAt.Format(time.Kitchen))

	// ... the call ran and cost 12 ...
	rec, err := l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: decimal.NewFromInt(12)})
	if err != nil {
		panic(err) // ledger.ErrHoldNotActive: the hold expired first
	}
	for _, e := range rec.Entries {
		fmt.Println(e.Kind, e.Amount)
	}
	fmt.Println("available:", rec.Balance)
	// Output:
	// held: 30 available: 70 until 9:10AM
	// release 30
	// capture -12
	// available: 88
}

// A failed call without a hold gives its credits back; a refunded pack
// takes back what is left of it.
func ExampleLedger_Reverse() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock})
	pack, _ := l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "invoice_1", Amount: decimal.NewFromInt(100)})
	_, _ = l.Consume(ctx, ledger.ConsumeParams{Account: "u", IdempotencyKey: "gen_1", Amount: decimal.NewFromInt(40)})

	// The call failed: reverse it by its idempotency key.
	rec, _ := l.Reverse(ctx, ledger.ReverseParams{Account: "u", Key: "gen_1"})
	fmt.Println("given back:", rec.Entries[0].Amount, "available:", rec.Balance)

	// Spend some, then the pack is refunded: only what remains comes back.
	_, _ = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(25)})
	rec, _ = l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: pack.OperationID, IdempotencyKey: "refund_1"})
	fmt.Println("taken back:", rec.Entries[0].Amount, "available:", rec.Balance)

	// Reversed once, never twice.
	rec, _ = l.Reverse(ctx, ledger.ReverseParams{Account: "u", Key: "gen_1"})
	fmt.Println("nothing to reverse:", rec.NothingToReverse, "entries:", len(rec.Entries))
	// Output:
	// given back: 40 available: 100
	// taken back: -75 available: 0
	// nothing to reverse: true entries: 0
}

// The balance as it was: the history replayed up to an instant.
func ExampleLedger_BalanceAt() {
	ctx := context.Background()
	now := fixedClock()
	clock := func() time.Time { return now }
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: clock})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "pack", Amount: decimal.NewFromInt(100)})
	now = now.Add(time.Hour)
	_, _ = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(30)})

	before, _ := l.BalanceAt(ctx, "u", fixedClock().Add(30*time.Minute))
	after, _ := l.BalanceAt(ctx, "u", now)
	fmt.Println(before.Available, after.Available)
	// Output:
	// 100 70
}
