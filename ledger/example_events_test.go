package ledger_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/memory"
)

// Auto top-up: balance.low makes the host charge the customer and grant
// a pack, with the event's ID as the idempotency key of both, so an event
// delivered twice (here: the host crashed before acknowledging it, and
// the lease ran out) tops up once.
func ExampleLedger_DeliverEvents_autoTopUp() {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	l, _ := ledger.New(memory.New(), &ledger.Config{
		Now: func() time.Time { return now },
		Catalog: &policy.Catalog{
			Packs:      []policy.Pack{{ID: "topup", Amount: decimal.NewFromInt(100)}},
			LowBalance: map[string]decimal.Decimal{"": decimal.NewFromInt(10)}, // the default pool
		},
	})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "signup", Amount: decimal.NewFromInt(20)})
	_, _ = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(15)})

	charges := map[string]bool{} // the payment provider, keyed as the top-up
	topUp := func(ctx context.Context, events []ledger.Event) error {
		for _, e := range events {
			if e.Type != ledger.EventBalanceLow {
				continue
			}
			key := "topup-" + e.ID
			charges[key] = true // charge(ctx, e.Account, key): idempotent by key
			rec, err := l.GrantPack(ctx, e.Account, "topup", key)
			if err != nil {
				return err // the batch comes back: DeliverEvents retries it
			}
			fmt.Println("balance.low at", e.Balance, "-> topped up to", rec.Balance, "replayed:", rec.Replayed)
		}
		return nil
	}

	// The host handles a batch and crashes before acknowledging it.
	events, _ := l.ClaimEvents(ctx, nil)
	_ = topUp(ctx, events)
	// Its lease ends; another replica runs the delivery loop.
	now = now.Add(ledger.DefaultEventLease)
	loop, stop := context.WithCancel(ctx)
	go func() {
		for {
			if st, _ := l.EventStats(ctx); st.Pending+st.Leased == 0 {
				stop()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_ = l.DeliverEvents(loop, topUp, &ledger.DeliverOpts{PollInterval: time.Millisecond})

	b, _ := l.Balance(ctx, "u")
	fmt.Println("charges:", len(charges), "balance:", b.Available)
	// Output:
	// balance.low at 5 -> topped up to 105 replayed: false
	// balance.low at 5 -> topped up to 105 replayed: true
	// charges: 1 balance: 105
}
