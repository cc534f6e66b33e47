package ledger_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/memory"
)

func ExampleLedger_GrantPackWith() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock, Catalog: policy.ReferenceCatalog()})

	// The payment webhook: the payment's id is the key.
	p := ledger.GrantPackParams{Account: "user_42", Pack: "basic", IdempotencyKey: "pi_3001"}
	rec, _ := l.GrantPackWith(ctx, p)
	fmt.Println(rec.Entries[0].Source, rec.Entries[0].Amount, rec.Entries[0].Description)
	rec, _ = l.GrantPackWith(ctx, p) // delivered again
	fmt.Println("balance:", rec.Balance, "replayed:", rec.Replayed)

	_, err := l.GrantPackWith(ctx, ledger.GrantPackParams{Account: "user_42", Pack: "gold", IdempotencyKey: "pi_3002"})
	fmt.Println(errors.Is(err, ledger.ErrUnknownPack), err)
	// Output:
	// purchase_package 100 pack basic
	// balance: 100 replayed: true
	// true creditledger: unknown pack "gold": not in the catalog
}

func ExampleLedger_ReleaseWith() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "pack", Amount: decimal.NewFromInt(100)})
	h, _ := l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: decimal.NewFromInt(30)})

	// The AI call failed before producing anything: give the credits back.
	h, _ = l.ReleaseWith(ctx, ledger.ReleaseParams{Account: "u", HoldID: h.ID, Description: "upstream timeout"})
	b, _ := l.Balance(ctx, "u")
	fmt.Println(h.State, "available:", b.Available, "held:", b.Held)
	// Output:
	// released available: 100 held: 0
}

func ExampleLedger_AssignPlan() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock, Catalog: policy.ReferenceCatalog()})

	// A signup handler: put the user on the free plan and show what they got.
	res, _ := l.AssignPlan(ctx, ledger.PlanParams{Account: "user_7", Plan: "free"})
	for _, e := range res.Entries {
		fmt.Println(e.Kind, e.Source, e.Amount)
	}
	fmt.Println("granted:", res.Granted, "changed:", res.Changed)

	res, _ = l.AssignPlan(ctx, ledger.PlanParams{Account: "user_7", Plan: "free"}) // a retry
	fmt.Println("granted:", res.Granted, "changed:", res.Changed)
	// Output:
	// plan free 0
	// grant register_gift 50
	// grant monthly_refresh 50
	// granted: 100 changed: true
	// granted: 0 changed: false
}
