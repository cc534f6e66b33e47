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

// Two pools: chat credits in the default pool, image credits in "image",
// and features priced in them. A consume by feature charges quantity x
// price rounded up, from the feature's pool only.
func ExampleLedger_Consume_features() {
	ctx := context.Background()
	catalog := &policy.Catalog{
		Features: []policy.Feature{
			{ID: "chat_message", Price: decimal.NewFromInt(1)},                       // default pool
			{ID: "image_hd", Pool: "image", Price: decimal.RequireFromString("2.5")}, // finer than scale 0
		},
		Packs: []policy.Pack{{ID: "image_pack", Amount: decimal.NewFromInt(20), Pool: "image"}},
	}
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock, Catalog: catalog})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "plan", Amount: decimal.NewFromInt(100)})
	_, _ = l.GrantPack(ctx, "u", "image_pack", "invoice_1")

	rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: "u", Feature: "image_hd", Quantity: decimal.NewFromInt(3)})
	if err != nil {
		panic(err)
	}
	e := rec.Entries[0]
	fmt.Println(e.Pool, e.Feature, e.Quantity, "cost", e.Amount.Neg(), "image left", rec.Balance)

	// The image pool cannot spend chat credits.
	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Feature: "image_hd", Quantity: decimal.NewFromInt(5)})
	fmt.Println(errors.Is(err, ledger.ErrInsufficientCredits))
	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Feature: "video", Quantity: decimal.NewFromInt(1)})
	fmt.Println(errors.Is(err, ledger.ErrUnknownFeature), errors.Is(err, ledger.ErrInvalidArgument))

	b, _ := l.Balance(ctx, "u")
	fmt.Println("default pool:", b.Available, "image:", b.Pools["image"].Available)
	// Output:
	// image image_hd 3 cost 8 image left 12
	// true
	// true true
	// default pool: 100 image: 12
}

// A dated grant starts later (next billing period); SetLotExpiry extends
// a grant, as an entry of the account's history.
func ExampleLedger_SetLotExpiry() {
	ctx := context.Background()
	now := fixedClock()
	clock := func() time.Time { return now }
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: clock})

	start := now.Add(24 * time.Hour)
	rec, _ := l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "next_period", Amount: decimal.NewFromInt(50), EffectiveAt: &start})
	lot := rec.Entries[0].LotID
	b, _ := l.Balance(ctx, "u")
	fmt.Println("available:", b.Available, "upcoming:", len(b.Upcoming))

	now = start
	b, _ = l.Balance(ctx, "u")
	fmt.Println("available:", b.Available, "upcoming:", len(b.Upcoming))

	expires := start.AddDate(0, 0, 60)
	rec, _ = l.SetLotExpiry(ctx, "u", lot, &expires)
	fmt.Println(rec.Entries[0].Kind, rec.Entries[0].Metadata["previous_expires_at"])
	// Output:
	// available: 0 upcoming: 1
	// available: 50 upcoming: 0
	// set_expiry never
}
