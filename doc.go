// Package creditledger runs subscription credits for a SaaS backend: an
// append-only ledger of grants, consumes and expiries, plans that grant
// credits each period, and the daily job that expires and grants them.
//
// This package holds only this tutorial; the code is in its
// subpackages:
//
//   - ledger: the API a host calls (Grant, Consume, Hold, Capture,
//     Release, Reverse, Balance, BalanceAt, Entries, SetPlan, Distribute,
//     Verify).
//   - policy: plans, allocation and expiry policies, period math.
//   - storage/bunstore: the PostgreSQL and SQLite store (through bun).
//   - storage/memory: an in-memory store for tests and tools.
//   - httpcron: the net/http handler for the daily cron call.
//
// # Open a store and a ledger
//
// A store is opened from a DSN: a postgres:// URL, or a SQLite file. The
// ledger migrates it on first use and records its scale (decimal places
// of one credit; 0 by default).
//
//	store, err := bunstore.Open(ctx, "postgres://app@db/app")
//	if err != nil { ... }
//	l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog()})
//
// # Grant credits from a payment webhook
//
// Every grant carries an idempotency key, such as the payment's id, so a
// webhook delivered twice grants once:
//
//	rec, err := l.GrantPack(ctx, userID, "basic", invoice.ID)
//
// or, for any amount, l.Grant with GrantParams. To record the payment and
// grant the credits in one transaction, run the grant on the host's
// transaction: l.WithStore(store.WithTx(tx)).Grant(ctx, p).
//
// # Spend credits
//
//	rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: userID, Amount: decimal.NewFromInt(5)})
//	if errors.Is(err, ledger.ErrInsufficientCredits) { ... answer 402 ... }
//
// Consume draws on the soonest-expiring credits first and never on
// expired ones; concurrent consumes of one account are serialized by a
// row lock, so they cannot overspend. Concurrent writes of one process
// share transactions (group commit: a call that arrives while one is in
// flight joins the next, and still gets its own receipt or error);
// ledger.Config.DisableGroupCommit turns that off.
//
// When a call's cost is known only after it ran, hold the most it can
// cost, then capture what it cost (the rest is released); a hold that is
// neither captured nor released ends by itself at its expiry:
//
//	h, err := l.Hold(ctx, ledger.HoldParams{Account: userID, Amount: decimal.NewFromInt(30)})
//	...
//	rec, err := l.Capture(ctx, ledger.CaptureParams{Account: userID, HoldID: h.ID, Amount: cost})
//
// A failed call without a hold is given back with l.Reverse, by its
// receipt's OperationID or its idempotency key.
//
// # Several pools and feature prices
//
// An account may hold several balances, one per credit pool: chat
// credits in the default pool "" (the one every call that names no pool
// uses) and image credits in "image", say. A grant names its pool, and a
// consume or hold draws on its pool's lots only:
//
//	_, err := l.Grant(ctx, ledger.GrantParams{Account: userID, IdempotencyKey: invoice.ID,
//		Pool: "image", Amount: decimal.NewFromInt(200)})
//	rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: userID, Pool: "image", Amount: decimal.NewFromInt(10)})
//
// The catalog may price features in credits of a pool, and a consume or
// hold then gives the feature and a quantity instead of an amount; the
// cost is quantity x price rounded up to the ledger's scale, and the
// entries record the feature and the quantity:
//
//	catalog.Features = []policy.Feature{{ID: "image_hd", Pool: "image", Price: decimal.RequireFromString("2.5")}}
//	rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: userID, Feature: "image_hd", Quantity: decimal.NewFromInt(3)}) // costs 8
//
// A receipt's Balance and its entries' BalanceAfter are the pool's.
// Balance's Available, Held and Lots are the default pool's, as before
// pools; Balance.Pools has every pool's. l.Entries lists one pool with
// ListOpts.Pool. Packs and the signup gift grant into the pool they name.
//
// A grant may start later (GrantParams.EffectiveAt, the next billing
// period): until that instant its lot is listed under Balance.Upcoming
// and cannot be spent. l.SetLotExpiry changes one lot's expiry (an
// extension, a support fix) as an entry of the account's history.
//
// # Plans and the daily run
//
// Put a user on a plan at signup (this grants the signup gift and the
// current period at once) and when their subscription changes:
//
//	err := l.SetPlan(ctx, ledger.PlanParams{Account: userID, Plan: "pro_yearly"})
//
// Mount the cron handler and point a scheduler (cron-job.org: GET, HTTP
// Basic auth, 30 s timeout) at it once a day:
//
//	h, err := httpcron.NewHandler(&httpcron.Options{
//		Username: os.Getenv("CRON_JOBS_USERNAME"),
//		Password: os.Getenv("CRON_JOBS_PASSWORD"),
//		Run: func(ctx context.Context) (*ledger.DistributeResult, error) {
//			return l.Distribute(ctx, nil)
//		},
//	})
//	mux.Handle("/api/distribute-credits", h)
//
// Each run expires what is due and grants each plan's current period,
// once per period whatever the number of runs, replicas or retries. A run
// that its budget stops answers complete:false, and the next goes on.
//
// # Monthly subscriptions, overage and rollover
//
// A monthly subscription is granted per paid invoice (the reference
// catalog's pro_monthly is policy.PerInvoice): the invoice.paid webhook
// calls
//
//	rec, err := l.GrantInvoice(ctx, ledger.InvoiceParams{Account: userID, Plan: "pro_monthly",
//		InvoiceID: inv.ID, PeriodStart: inv.PeriodStart})
//
// which grants the plan's credits once per invoice, however often the
// webhook is delivered. A plan may let usage run past zero, down to a
// limit per pool (policy.Plan.Overdraft: Consume succeeds and the rest is
// owed, Balance.Owed; the next credits granted pay the debt first), and
// may carry what a period left unspent into the next, up to a cap
// (policy.Plan.Rollover, done by Distribute or GrantInvoice with the next
// period's grant). policy.InPools makes a plan grant into several pools.
// # Events
//
// Every write appends what a host acts on (balance.low, balance.depleted,
// credits.granted, credits.expired, credits.expiring, credits.reversed,
// hold.expired) to an outbox in its own transaction. Set thresholds in
// the catalog (Catalog.LowBalance, Plan.LowBalance, Catalog.ExpiringNotice)
// and deliver them at least once, in order per account:
//
//	go l.DeliverEvents(ctx, func(ctx context.Context, events []ledger.Event) error {
//		return notify(ctx, events) // an error: the batch comes back after a backoff
//	}, nil)
//
// docs/EVENTS.md has the guarantees, the webhook signature and the auto
// top-up recipe.
package creditledger
