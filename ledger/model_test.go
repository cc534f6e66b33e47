package ledger_test

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

var (
	modelSteps = flag.Int("model.steps", 0, "steps of the model-based test per store (default 10000 in CI, 2000 elsewhere)")
	modelSeed  = flag.Uint64("model.seed", 0, "seed of the model-based test (default: random, printed)")
)

// TestModel runs one random sequence of operations against a ledger on
// the in-memory store (the model) and a ledger on each other store, and
// requires them to agree after every step: the same outcome (or the same
// kind of error), the same balances, open lots and history, and Verify
// clean.
func TestModel(t *testing.T) {
	t.Parallel()
	steps := *modelSteps
	if steps == 0 {
		steps = 2000
		if os.Getenv("CI") != "" {
			steps = 10000
		}
	}
	seed := *modelSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	for _, kind := range testdb.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			t.Parallel()
			steps := steps
			if kind.Name == "citus" && *modelSteps == 0 {
				// Each step is a few round trips through the coordinator to
				// a worker: a tenth of the steps keeps CI's time in bounds
				// (-model.steps runs the full count on every store).
				steps /= 10
			}
			t.Logf("model test: %d steps, seed %d (rerun with -model.seed=%d)", steps, seed, seed)
			runModel(t, kind.New, steps, seed)
		})
	}
}

type modelPair struct {
	model, subject *ledger.Ledger
	ms, ss         storage.Store
	clock          *clock
	// holds and ops pair the ids the model and the subject gave the same
	// hold, and the same grant, consume or capture (ids are random).
	holds, ops []idPair
	// times are instants of earlier steps, for BalanceAt.
	times []time.Time
}

// idPair is one hold or operation of an account on both ledgers.
type idPair struct{ account, model, subject string }

func runModel(t *testing.T, newStore func(t *testing.T) storage.Store, steps int, seed uint64) {
	clk := newClock(t0)
	catalog := modelCatalog()
	// Pools and feature prices among the steps (issue #21).
	catalog.Features = []policy.Feature{{ID: "render", Pool: "image", Price: decimal.RequireFromString("2.5")}, {ID: "chat", Price: decimal.NewFromInt(3)}}
	catalog.LowBalance = map[string]decimal.Decimal{"": modelLowBalance} // events: model_events_test.go
	cfg := &ledger.Config{Catalog: catalog, Now: clk.Now}
	p := &modelPair{ms: testKindsMemory(t), ss: newStore(t), clock: clk}
	var err error
	p.model, err = ledger.New(p.ms, cfg)
	require.NoError(t, err)
	p.subject, err = ledger.New(p.ss, cfg)
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	accounts := []string{"a", "b", "c", "d", "e"}
	plans := []string{"free", "yearly", "pay_only", "missing", "metered", "rolling", "invoiced"}
	for step := range steps {
		op := p.step(t, rng, accounts, plans)
		msg := fmt.Sprintf("seed %d step %d: %s", seed, step, op)
		if step%50 == 49 || step == steps-1 {
			p.compareAll(t, accounts, msg)
		}
	}
}

// errClass names the kind of an error so that outcomes can be compared
// across stores whose messages differ.
func errClass(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{ledger.ErrInsufficientCredits, "insufficient"},
		{ledger.ErrIdempotencyConflict, "conflict"},
		{ledger.ErrInvalidAmount, "amount"},
		{ledger.ErrInvalidArgument, "argument"},
		{ledger.ErrUnknownPlan, "plan"},
		{ledger.ErrNotFound, "notfound"},
		{ledger.ErrHoldNotActive, "notactive"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "ok"
}

func (p *modelPair) step(t *testing.T, rng *rand.Rand, accounts, plans []string) string {
	t.Helper()
	ctx := t.Context()
	acct := accounts[rng.IntN(len(accounts))]
	p.times = append(p.times, p.clock.Now())
	switch r := rng.IntN(100); {
	case r >= 76:
		return p.holdStep(t, rng, acct, r)
	case r < 24:
		g := ledger.GrantParams{
			Account:        acct,
			IdempotencyKey: "g" + strconv.Itoa(rng.IntN(60)), // reused keys: replays and conflicts
			Amount:         decimal.NewFromInt(int64(1 + rng.IntN(5)*20)),
			Source:         []string{"purchase_package", "grant"}[rng.IntN(2)],
		}
		if rng.IntN(2) == 0 {
			g.ExpiresAt = tp(p.clock.Now().Add(time.Duration(1+rng.IntN(96)) * time.Hour))
		}
		switch rng.IntN(8) {
		case 0, 1:
			g.Pool = "image"
		case 2:
			// A dated grant, sometimes with an expiry before its start
			// (refused on both).
			g.EffectiveAt = tp(p.clock.Now().Add(time.Duration(rng.IntN(48*60)) * time.Minute))
		}
		mr, merr := p.model.Grant(ctx, g)
		sr, serr := p.subject.Grant(ctx, g)
		p.compareReceipts(t, mr, merr, sr, serr, fmt.Sprintf("grant %+v", g))
		p.recordOp(acct, mr, sr)
		return "grant"
	case r < 50:
		c := ledger.ConsumeParams{Account: acct, Amount: decimal.NewFromInt(int64(1 + rng.IntN(60)))}
		switch rng.IntN(8) {
		case 0:
			c.Pool = "image"
		case 1, 2:
			c.Amount = decimal.Decimal{}
			c.Feature = []string{"render", "chat"}[rng.IntN(2)]
			c.Quantity = decimal.NewFromInt(int64(1 + rng.IntN(12)))
		}
		if rng.IntN(3) == 0 {
			c.IdempotencyKey = "c" + strconv.Itoa(rng.IntN(40))
		}
		mr, merr := p.model.Consume(ctx, c)
		sr, serr := p.subject.Consume(ctx, c)
		p.compareReceipts(t, mr, merr, sr, serr, fmt.Sprintf("consume %+v", c))
		p.recordOp(acct, mr, sr)
		return "consume"
	case r < 62:
		if rng.IntN(2) == 0 {
			// Minutes: holds (TTL up to a day) end while others live.
			p.clock.Add(time.Duration(rng.IntN(40)) * time.Minute)
		} else {
			p.clock.Add(time.Duration(rng.IntN(48*60)) * time.Minute)
		}
		return "advance clock"
	case r < 66:
		mr, merr := p.model.ExpireDue(ctx)
		sr, serr := p.subject.ExpireDue(ctx)
		require.Equal(t, errClass(merr), errClass(serr), "expire")
		require.Equal(t, mr.Expired, sr.Expired, "expire")
		require.True(t, mr.ExpiredCredits.Equal(sr.ExpiredCredits), "expire")
		return "expire due"
	case r < 68:
		return p.plansStep(t, rng, acct)
	case r < 72:
		pp := ledger.PlanParams{Account: acct, Plan: plans[rng.IntN(len(plans))]}
		merr := p.model.SetPlan(ctx, pp)
		serr := p.subject.SetPlan(ctx, pp)
		require.Equal(t, errClass(merr), errClass(serr), "set plan %+v", pp)
		return "set plan " + pp.Plan
	default: // r < 76
		mr, merr := p.model.Distribute(ctx, nil)
		sr, serr := p.subject.Distribute(ctx, nil)
		require.Equal(t, errClass(merr), errClass(serr), "distribute")
		require.Equal(t, mr.Granted, sr.Granted, "distribute granted")
		require.Equal(t, mr.Expired, sr.Expired, "distribute expired")
		require.Equal(t, mr.Errors, sr.Errors, "distribute errors")
		require.True(t, mr.GrantedCredits.Equal(sr.GrantedCredits), "distribute")
		return "distribute"
	}
}

func (p *modelPair) compareReceipts(t *testing.T, mr *ledger.Receipt, merr error, sr *ledger.Receipt, serr error, what string) {
	t.Helper()
	require.Equal(t, errClass(merr), errClass(serr), what)
	if merr != nil {
		return
	}
	require.Equal(t, mr.Replayed, sr.Replayed, what)
	require.True(t, mr.Balance.Equal(sr.Balance), "%s: balance model %s subject %s", what, mr.Balance, sr.Balance)
	require.Equal(t, entryShapes(mr.Entries), entryShapes(sr.Entries), what)
}

// entryShapes drops the random ids, keeping what must agree.
func entryShapes(es []ledger.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s %s after %s %s %s %v pool %q %q %s", e.Kind, e.Amount, e.BalanceAfter, e.Source, e.Description, e.CreatedAt.UnixMicro(),
			e.Pool, e.Feature, e.Quantity)
	}
	return out
}

func lotShapes(ls []ledger.Lot) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		exp := "never"
		if l.ExpiresAt != nil {
			exp = strconv.FormatInt(l.ExpiresAt.UnixMicro(), 10)
		}
		eff := "now"
		if l.EffectiveAt != nil {
			eff = strconv.FormatInt(l.EffectiveAt.UnixMicro(), 10)
		}
		out[i] = fmt.Sprintf("%s %s/%s p%d exp %s pool %q eff %s", l.Source, l.Remaining, l.Amount, l.Priority, exp, l.Pool, eff)
	}
	return out
}

func (p *modelPair) compareAll(t *testing.T, accounts []string, msg string) {
	t.Helper()
	ctx := t.Context()
	for i, a := range accounts {
		mb, merr := p.model.Balance(ctx, a)
		sb, serr := p.subject.Balance(ctx, a)
		require.Equal(t, errClass(merr), errClass(serr), "%s: balance of %s", msg, a)
		if merr != nil {
			continue
		}
		require.True(t, mb.Available.Equal(sb.Available), "%s: available of %s: model %s subject %s", msg, a, mb.Available, sb.Available)
		require.True(t, mb.Held.Equal(sb.Held), "%s: held of %s: model %s subject %s", msg, a, mb.Held, sb.Held)
		require.True(t, mb.Owed.Equal(sb.Owed), "%s: owed by %s: model %s subject %s", msg, a, mb.Owed, sb.Owed)
		if i == (len(p.times)/50)%len(accounts) {
			// One account per comparison: BalanceAt reads the whole
			// history, which grows with the steps.
			p.compareHistory(t, a, mb, msg)
		}
		require.Equal(t, mb.Plan, sb.Plan, msg)
		require.Equal(t, lotShapes(mb.Lots), lotShapes(sb.Lots), "%s: lots of %s", msg, a)
		require.Equal(t, lotShapes(mb.Upcoming), lotShapes(sb.Upcoming), "%s: upcoming lots of %s", msg, a)
		require.Equal(t, len(mb.Pools), len(sb.Pools), "%s: pools of %s", msg, a)
		for name, mp := range mb.Pools {
			sp := sb.Pools[name]
			require.True(t, mp.Available.Equal(sp.Available), "%s: available of %s in pool %q", msg, a, name)
			require.True(t, mp.Held.Equal(sp.Held), "%s: held of %s in pool %q", msg, a, name)
			require.Equal(t, lotShapes(mp.Lots), lotShapes(sp.Lots), "%s: lots of %s in pool %q", msg, a, name)
		}
		me, err := p.model.Entries(ctx, a, &ledger.ListOpts{Limit: ledger.MaxPageSize})
		require.NoError(t, err)
		se, err := p.subject.Entries(ctx, a, &ledger.ListOpts{Limit: ledger.MaxPageSize})
		require.NoError(t, err)
		require.Equal(t, entryShapes(me.Entries), entryShapes(se.Entries), "%s: entries of %s", msg, a)
		p.compareEvents(t, a, msg)
	}
	for _, l := range []*ledger.Ledger{p.model, p.subject} {
		rep, err := l.Verify(ctx)
		require.NoError(t, err)
		require.Empty(t, rep.Violations, msg)
	}
}
