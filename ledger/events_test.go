package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// eventsCatalog has a threshold of 20 on the default pool (plan "pro":
// 50), and a two-day expiring notice.
func eventsCatalog() *policy.Catalog {
	return &policy.Catalog{
		Plans: []policy.Plan{
			{ID: "free", Allocation: policy.MonthlyCalendar(d("30"), "monthly_refresh"), Expiry: policy.AfterDays(30)},
			{ID: "pro", Allocation: policy.MonthlyCalendar(d("100"), "monthly_refresh"), Expiry: policy.AfterDays(30),
				LowBalance: map[string]decimal.Decimal{"": d("50")}},
		},
		Packs:          []policy.Pack{{ID: "topup", Amount: d("100"), Source: "purchase_package"}},
		LowBalance:     map[string]decimal.Decimal{"": d("20")},
		ExpiringNotice: 48 * time.Hour,
	}
}

// newEvents returns the account's events written since the last call,
// oldest first, as "type amount balance".
type eventLog struct {
	t    *testing.T
	l    *ledger.Ledger
	seen map[string]bool
}

var keySeq atomic.Int64

// nextKey is a fresh idempotency key.
func nextKey() string { return fmt.Sprintf("k-%d", keySeq.Add(1)) }

func newEventLog(t *testing.T, l *ledger.Ledger) *eventLog {
	return &eventLog{t: t, l: l, seen: map[string]bool{}}
}

func (g *eventLog) next(account string) []string {
	g.t.Helper()
	es, err := g.l.ListEvents(g.t.Context(), &ledger.EventListOpts{Account: account, Limit: 1000})
	require.NoError(g.t, err)
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		e := es[i]
		if g.seen[e.ID] {
			continue
		}
		g.seen[e.ID] = true
		require.Equal(g.t, account, e.Account)
		require.NotEmpty(g.t, e.ID)
		out = append(out, fmt.Sprintf("%s %s %s", e.Type, e.Amount, e.Balance))
	}
	return out
}

func TestEventsOfEachWritePath(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: eventsCatalog()})
		ctx := t.Context()
		g := newEventLog(t, b.l)

		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d("30"), IdempotencyKey: "g1"})
		require.NoError(t, err)
		require.Equal(t, []string{"credits.granted 30 30"}, g.next("u"))
		// A replay writes no event.
		rec, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d("30"), IdempotencyKey: "g1"})
		require.NoError(t, err)
		require.True(t, rec.Replayed)
		require.Empty(t, g.next("u"))

		// 30 -> 25: above the threshold of 20, nothing.
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("5")})
		require.NoError(t, err)
		require.Empty(t, g.next("u"))
		// 25 -> 20: crosses it (at or below), once.
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("5")})
		require.NoError(t, err)
		require.Equal(t, []string{"balance.low 5 20"}, g.next("u"))
		// Still low: no repeat.
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("5")})
		require.NoError(t, err)
		require.Empty(t, g.next("u"))
		// A refused consume writes nothing.
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("500")})
		require.ErrorIs(t, err, ledger.ErrInsufficientCredits)
		require.Empty(t, g.next("u"))
		// To zero: depleted (and not low again: it was low already).
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("15")})
		require.NoError(t, err)
		require.Equal(t, []string{"balance.depleted 15 0"}, g.next("u"))

		// Above the threshold again, then a hold that crosses it.
		_, err = b.l.GrantPack(ctx, "u", "topup", "pack-1")
		require.NoError(t, err)
		require.Equal(t, []string{"credits.granted 100 100"}, g.next("u"))
		h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("85"), TTL: time.Minute})
		require.NoError(t, err)
		require.Equal(t, []string{"balance.low 85 15"}, g.next("u"))
		_, err = b.l.Release(ctx, "u", h.ID)
		require.NoError(t, err)
		require.Empty(t, g.next("u"), "a release raises the balance: no event")
		h, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("10"), TTL: time.Minute})
		require.NoError(t, err)
		require.Empty(t, g.next("u"))
		_, err = b.l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: d("10")})
		require.NoError(t, err)
		require.Empty(t, g.next("u"), "90 is above 20")
		// A hold that expires is given back by the next write's sweep.
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("10"), TTL: time.Minute})
		require.NoError(t, err)
		b.clock.Add(2 * time.Minute)
		c, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("1")})
		require.NoError(t, err)
		require.Equal(t, []string{"hold.expired 10 89"}, g.next("u"))
		// Reversing that consume gives the credit back.
		_, err = b.l.Reverse(ctx, ledger.ReverseParams{Account: "u", OperationID: c.OperationID})
		require.NoError(t, err)
		require.Equal(t, []string{"credits.reversed 1 90"}, g.next("u"))
		requireVerified(t, b)
	})
}

// A plan's threshold overrides the catalog's; expiries and Distribute's
// grants and notices are events too, the notice once per lot.
func TestEventsDistributeExpiryAndNotice(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: eventsCatalog()})
		ctx := t.Context()
		g := newEventLog(t, b.l)

		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "p", Plan: "pro"}))
		require.Equal(t, []string{"credits.granted 100 100"}, g.next("p"))
		_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "p", Amount: d("50")})
		require.NoError(t, err)
		require.Equal(t, []string{"balance.low 50 50"}, g.next("p"), "pro's threshold is 50")

		// A grant expiring in 3 days: no notice yet; 2 days before, one.
		_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "x", Amount: d("40"), ExpiresAt: tp(b.clock.Now().Add(72 * time.Hour)), IdempotencyKey: nextKey()})
		require.NoError(t, err)
		require.Equal(t, []string{"credits.granted 40 40"}, g.next("x"))
		_, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, g.next("x"))
		b.clock.Add(25 * time.Hour)
		_, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"credits.expiring 40 40"}, g.next("x"))
		_, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "x", Amount: d("1")})
		require.NoError(t, err)
		require.Empty(t, g.next("x"), "once per lot")

		// The lot expires: the sweep's expiry crosses the threshold.
		b.clock.Add(48 * time.Hour)
		res, err := b.l.ExpireDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, res.Expired)
		require.Equal(t, []string{"credits.expired 39 0", "balance.low 39 0", "balance.depleted 39 0"}, g.next("x"))

		// A lot granted within its notice is noticed by its own write.
		_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "y", Amount: d("5"), ExpiresAt: tp(b.clock.Now().Add(time.Hour)), IdempotencyKey: nextKey()})
		require.NoError(t, err)
		require.Equal(t, []string{"credits.granted 5 5", "credits.expiring 5 5"}, g.next("y"))
		b.clock.Add(2 * time.Hour)
		_, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"credits.expired 5 0", "balance.depleted 5 0"}, g.next("y"), "5 was at or below 20 already")
		requireVerified(t, b)
	})
}

// The model of balance.low: over random consumes and grants, an event
// fires exactly when the balance goes from above the threshold to at or
// below it.
func TestEventsBalanceLowCrossings(t *testing.T) {
	t.Parallel()
	b := setup(t, testKindsMemory, &ledger.Config{Catalog: eventsCatalog()})
	ctx := t.Context()
	g := newEventLog(t, b.l)
	bal := int64(0)
	steps := []int64{+30, -9, -1, -1, +5, -10, +100, -90, -1, +2, -5, -7}
	for i, s := range steps {
		before := bal
		if s > 0 {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "m", Amount: decimal.NewFromInt(s), IdempotencyKey: nextKey()})
			require.NoError(t, err)
		} else {
			_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "m", Amount: decimal.NewFromInt(-s)})
			require.NoError(t, err)
		}
		bal += s
		var low, depleted bool
		for _, e := range g.next("m") {
			low = low || e[:len("balance.low")] == "balance.low"
			depleted = depleted || len(e) > 16 && e[:16] == "balance.depleted"
		}
		require.Equal(t, before > 20 && bal <= 20, low, "step %d: %d -> %d", i, before, bal)
		require.Equal(t, before > 0 && bal == 0, depleted, "step %d: %d -> %d", i, before, bal)
	}
}

// rollbackStore runs each transaction's function, then fails it: nothing
// it staged, events included, is kept.
type rollbackStore struct {
	storage.Store
	fail bool
}

var errRolledBack = errors.New("injected commit failure")

func (s *rollbackStore) Tx(ctx context.Context, fn func(context.Context, storage.Tx) error) error {
	return s.Store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if s.fail {
			return errRolledBack
		}
		return nil
	})
}

func TestEventsRolledBackWriteLeavesNone(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		fs := &rollbackStore{Store: newStore(t)}
		b := setup(t, func(*testing.T) storage.Store { return fs }, &ledger.Config{Catalog: eventsCatalog()})
		ctx := t.Context()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d("30"), IdempotencyKey: nextKey()})
		require.NoError(t, err)
		fs.fail = true
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("30")})
		require.ErrorIs(t, err, errRolledBack)
		_, err = b.l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d("30"), IdempotencyKey: nextKey()})
		require.ErrorIs(t, err, errRolledBack)
		fs.fail = false
		es, err := b.l.ListEvents(ctx, nil)
		require.NoError(t, err)
		require.Len(t, es, 1, "only the first grant's")
		require.Equal(t, ledger.EventCreditsGranted, es[0].Type)
	})
}

// Claim, lease, redelivery on the ledger's clock, acknowledgement and
// pruning, through the ledger.
func TestEventsClaimAckPrune(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: eventsCatalog()})
		ctx := t.Context()
		for i := range 3 {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: fmt.Sprintf("a%d", i), Amount: d("10"), IdempotencyKey: nextKey()})
			require.NoError(t, err)
		}
		got, err := b.l.ClaimEvents(ctx, nil)
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.Equal(t, 1, got[0].Attempts)
		require.True(t, got[0].LeasedUntil.Equal(b.clock.Now().Add(ledger.DefaultEventLease)))
		none, err := b.l.ClaimEvents(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, none)
		// The lease ends on the ledger's clock: they come back.
		b.clock.Add(ledger.DefaultEventLease)
		again, err := b.l.ClaimEvents(ctx, &ledger.ClaimEventsOpts{Limit: 2, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, again, 2)
		require.Equal(t, 2, again[0].Attempts)
		require.NoError(t, b.l.AckEvents(ctx, again))
		st, err := b.l.EventStats(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, st.Pending)
		require.EqualValues(t, 1, st.Failed)

		b.clock.Add(time.Hour)
		n, err := b.l.PruneEvents(ctx, 30*time.Minute)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		es, err := b.l.ListEvents(ctx, nil)
		require.NoError(t, err)
		require.Len(t, es, 1)
		require.Nil(t, es[0].AckedAt)

		_, err = b.l.ClaimEvents(ctx, &ledger.ClaimEventsOpts{Limit: -1})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		_, err = b.l.PruneEvents(ctx, -time.Second)
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		require.ErrorIs(t, b.l.AckEvents(ctx, []ledger.Event{{}}), ledger.ErrInvalidArgument)
	})
}

// DeliverEvents delivers everything once fn succeeds, retries after an
// error, in order per account, and stops with its context.
func TestDeliverEvents(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: eventsCatalog()})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		const accounts, writes = 4, 5
		for i := range writes {
			for a := range accounts {
				_, err := b.l.Grant(ctx, ledger.GrantParams{Account: fmt.Sprintf("a%d", a), Amount: decimal.NewFromInt(int64(i + 1)), IdempotencyKey: nextKey()})
				require.NoError(t, err)
			}
		}
		var mu sync.Mutex
		calls := 0
		var got []ledger.Event
		done := make(chan error, 1)
		go func() {
			done <- b.l.DeliverEvents(ctx, func(_ context.Context, es []ledger.Event) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls == 1 {
					return errors.New("receiver down")
				}
				got = append(got, es...)
				if len(got) >= accounts*writes {
					cancel()
				}
				return nil
			}, &ledger.DeliverOpts{Limit: 7, PollInterval: time.Millisecond, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
		}()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(30 * time.Second):
			t.Fatal("DeliverEvents did not deliver everything")
		}
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, got, accounts*writes)
		last := map[string]string{}
		for _, e := range got {
			if prev, ok := last[e.Account]; ok {
				require.Less(t, prev, e.Amount.String(), "account %s out of order", e.Account)
			}
			last[e.Account] = e.Amount.String()
		}
		st, err := b.l.EventStats(t.Context())
		require.NoError(t, err)
		require.Zero(t, st.Pending+st.Leased)
		require.ErrorIs(t, b.l.DeliverEvents(t.Context(), nil, nil), ledger.ErrInvalidArgument)
	})
}

// Under 16 concurrent writers, each account's events are in the order of
// its history, while a claimer takes them as they come.
func TestEventsOrderUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: eventsCatalog()})
		ctx := t.Context()
		const writers, perWriter = 16, 4
		var wg sync.WaitGroup
		errs := make(chan error, writers*perWriter)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					_, err := b.l.Grant(ctx, ledger.GrantParams{Account: []string{"a", "b"}[(w+i)%2], Amount: d("1"),
						IdempotencyKey: fmt.Sprintf("w%d-%d", w, i)})
					errs <- err
				}
			}()
		}
		claimed := map[string][]int64{}
		stop := make(chan struct{})
		claimerDone := make(chan error, 1)
		go func() {
			for {
				// Once the writers are done, a claim that finds nothing
				// means everything was claimed.
				stopped := false
				select {
				case <-stop:
					stopped = true
				default:
				}
				es, err := b.l.ClaimEvents(ctx, &ledger.ClaimEventsOpts{Limit: 5})
				if err != nil {
					claimerDone <- err
					return
				}
				for _, e := range es {
					claimed[e.Account] = append(claimed[e.Account], e.Seq)
				}
				if err := b.l.AckEvents(ctx, es); err != nil {
					claimerDone <- err
					return
				}
				if stopped && len(es) == 0 {
					claimerDone <- nil
					return
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		close(stop)
		require.NoError(t, <-claimerDone)
		total := 0
		for _, acct := range []string{"a", "b"} {
			page, err := b.l.Entries(ctx, acct, &ledger.ListOpts{Limit: 1000})
			require.NoError(t, err)
			var ops []string
			for i := len(page.Entries) - 1; i >= 0; i-- {
				ops = append(ops, page.Entries[i].OperationID)
			}
			es, err := b.l.ListEvents(ctx, &ledger.EventListOpts{Account: acct, Limit: 1000})
			require.NoError(t, err)
			var evOps []string
			for i := len(es) - 1; i >= 0; i-- {
				evOps = append(evOps, es[i].OperationID)
			}
			require.Equal(t, ops, evOps, "account %s: events in the order of the history", acct)
			for i := 1; i < len(claimed[acct]); i++ {
				require.Less(t, claimed[acct][i-1], claimed[acct][i], "account %s claimed out of order", acct)
			}
			total += len(claimed[acct])
		}
		st, err := b.l.EventStats(ctx)
		require.NoError(t, err)
		require.Equal(t, writers*perWriter, total, "every event claimed once (%+v)", st)
	})
}

// Config.NoEvents: writes append nothing to the outbox, and work as
// before.
func TestNoEvents(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: eventsCatalog(), NoEvents: true})
		ctx := t.Context()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d("30"), IdempotencyKey: "g", ExpiresAt: tp(t0.Add(time.Hour))})
		require.NoError(t, err)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d("30")})
		require.NoError(t, err)
		_, err = b.l.Distribute(ctx, nil)
		require.NoError(t, err)
		es, err := b.l.ListEvents(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, es)
		requireBalance(t, b, "u", "0")
		requireVerified(t, b)
	})
}

// A threshold finer than the scale is refused by New.
func TestLowBalanceFitsScale(t *testing.T) {
	t.Parallel()
	cat := eventsCatalog()
	cat.Plans[1].LowBalance = map[string]decimal.Decimal{"": d("0.5")}
	_, err := ledger.New(testKindsMemory(t), &ledger.Config{Catalog: cat})
	require.ErrorIs(t, err, ledger.ErrInvalidAmount)
	require.ErrorContains(t, err, `plan "pro"`)
	_, err = ledger.New(testKindsMemory(t), &ledger.Config{Catalog: cat, Scale: 1})
	require.NoError(t, err)
}

// balance.low and balance.depleted are per pool: each pool crosses its
// own threshold, spending one pool never fires another's, and a dated
// grant's credits count only from its instant.
func TestEventsBalancePerPool(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		cat := eventsCatalog()
		cat.LowBalance = map[string]decimal.Decimal{"": d("20"), "image": d("10")}
		clk := newClock(t0)
		b := setup(t, newStore, &ledger.Config{Catalog: cat, Now: clk.Now})
		ctx := t.Context()
		g := newEventLog(t, b.l)
		grant := func(pool string, amount int64, at *time.Time) {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "p", Pool: pool, Amount: decimal.NewFromInt(amount),
				IdempotencyKey: nextKey(), EffectiveAt: at})
			require.NoError(t, err)
		}
		consume := func(pool string, amount int64) {
			_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "p", Pool: pool, Amount: decimal.NewFromInt(amount)})
			require.NoError(t, err)
		}
		grant("", 30, nil)
		grant("image", 40, nil)
		require.Equal(t, []string{"credits.granted 30 30", "credits.granted 40 40"}, g.next("p"))

		consume("image", 25) // 40 -> 15: above image's 10, no event
		require.Empty(t, g.next("p"))
		consume("", 15) // 30 -> 15: the default pool's crossing of 20
		require.Equal(t, []string{"balance.low 15 15"}, g.next("p"))
		consume("image", 6) // 15 -> 9: image's own crossing of 10
		require.Equal(t, []string{"balance.low 6 9"}, g.next("p"))

		// A dated grant of 100 into image: not spendable, so the next
		// consume still crosses nothing new, and depleting image fires.
		later := t0.Add(48 * time.Hour)
		grant("image", 100, &later)
		require.Equal(t, []string{"credits.granted 100 9"}, g.next("p"))
		consume("image", 9)
		require.Equal(t, []string{"balance.depleted 9 0"}, g.next("p"))

		// At its instant the dated credits are spendable; spending them
		// down to 10 is image's next crossing.
		clk.Set(later)
		consume("image", 90)
		require.Equal(t, []string{"balance.low 90 10"}, g.next("p"))
		requireVerified(t, b)
	})
}

// balance.overdrawn: once when a pool goes from owing nothing to owing,
// not again while it owes more, and again after a grant paid the debt.
func TestEventsOverdrawn(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{Catalog: overdraftCatalog()})
		ctx := t.Context()
		g := newEventLog(t, b.l)
		require.NoError(t, b.l.SetPlan(ctx, ledger.PlanParams{Account: "o", Plan: "metered"}))
		grantOD(t, b, "o", "g1", "10")
		g.next("o")
		overdrawn := func() int {
			n := 0
			for _, e := range g.next("o") {
				if strings.HasPrefix(e, "balance.overdrawn ") {
					n++
					require.Equal(t, "balance.overdrawn 15 0", e, "the debt, and the pool's available balance")
				}
			}
			return n
		}
		_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "o", Amount: d("25")}) // 10 spent, 15 owed
		require.NoError(t, err)
		require.Equal(t, 1, overdrawn())
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "o", Amount: d("5")}) // owes 20: no new crossing
		require.NoError(t, err)
		require.Equal(t, 0, overdrawn())
		grantOD(t, b, "o", "g2", "20") // pays the 20
		require.Equal(t, 0, overdrawn())
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "o", Amount: d("15")}) // owes again
		require.NoError(t, err)
		require.Equal(t, 1, overdrawn())
		requireVerified(t, b)
	})
}
