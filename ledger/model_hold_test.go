package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
)

// recordOp remembers a written (not replayed) operation of both ledgers,
// for reversals.
func (p *modelPair) recordOp(account string, mr, sr *ledger.Receipt) {
	if mr == nil || sr == nil || mr.Replayed || mr.OperationID == "" {
		return
	}
	p.ops = append(p.ops, idPair{account: account, model: mr.OperationID, subject: sr.OperationID})
}

// pick returns a random pair of the account (or of any account, now and
// then, to exercise ErrNotFound), or an unknown id.
func pick(rng *rand.Rand, pairs []idPair, account string) idPair {
	var mine []idPair
	for _, pr := range pairs {
		if pr.account == account || rng.IntN(20) == 0 {
			mine = append(mine, pr)
		}
	}
	if len(mine) == 0 || rng.IntN(25) == 0 {
		return idPair{account: account, model: "unknown", subject: "unknown"}
	}
	pr := mine[rng.IntN(len(mine))]
	pr.account = account
	return pr
}

// holdStep runs a hold, capture, release or reversal on both ledgers
// (r in [76, 100)) and requires the same outcome.
func (p *modelPair) holdStep(t *testing.T, rng *rand.Rand, acct string, r int) string {
	t.Helper()
	ctx := t.Context()
	switch {
	case r < 84:
		h := ledger.HoldParams{Account: acct, Amount: decimal.NewFromInt(int64(1 + rng.IntN(50)))}
		switch rng.IntN(4) {
		case 0: // default TTL
		case 1:
			h.TTL = time.Duration(1+rng.IntN(120)) * time.Minute
		case 2:
			h.TTL = time.Duration(1+rng.IntN(24*60)) * time.Minute
		default:
			h.TTL = []time.Duration{-time.Minute, ledger.MaxHoldTTL + time.Second, ledger.MaxHoldTTL}[rng.IntN(3)]
		}
		if rng.IntN(3) == 0 {
			h.IdempotencyKey = "h" + strconv.Itoa(rng.IntN(30))
		}
		mh, merr := p.model.Hold(ctx, h)
		sh, serr := p.subject.Hold(ctx, h)
		what := fmt.Sprintf("hold %+v", h)
		require.Equal(t, errClass(merr), errClass(serr), what)
		if merr == nil {
			requireSameHold(t, mh, sh, what)
			if !mh.Replayed {
				p.holds = append(p.holds, idPair{account: acct, model: mh.ID, subject: sh.ID})
			}
		}
		return "hold"
	case r < 89:
		pr := pick(rng, p.holds, acct)
		amount := decimal.NewFromInt(int64(1 + rng.IntN(50)))
		mc := ledger.CaptureParams{Account: acct, HoldID: pr.model, Amount: amount}
		sc := mc
		sc.HoldID = pr.subject
		mr, merr := p.model.Capture(ctx, mc)
		sr, serr := p.subject.Capture(ctx, sc)
		p.compareReceipts(t, mr, merr, sr, serr, fmt.Sprintf("capture %+v", mc))
		p.recordOp(acct, mr, sr)
		return "capture"
	case r < 92:
		pr := pick(rng, p.holds, acct)
		mh, merr := p.model.Release(ctx, acct, pr.model)
		sh, serr := p.subject.Release(ctx, acct, pr.subject)
		what := "release " + pr.model
		require.Equal(t, errClass(merr), errClass(serr), what)
		if merr == nil {
			requireSameHold(t, mh, sh, what)
		}
		return "release"
	default:
		pr := pick(rng, p.ops, acct)
		rv := ledger.ReverseParams{Account: acct, OperationID: pr.model}
		if rng.IntN(2) == 0 {
			a := decimal.NewFromInt(int64(1 + rng.IntN(40)))
			rv.Amount = &a
		}
		if rng.IntN(4) == 0 {
			rv.IdempotencyKey = "r" + strconv.Itoa(rng.IntN(20))
		}
		sv := rv
		sv.OperationID = pr.subject
		mr, merr := p.model.Reverse(ctx, rv)
		sr, serr := p.subject.Reverse(ctx, sv)
		p.compareReceipts(t, mr, merr, sr, serr, fmt.Sprintf("reverse %+v", rv))
		return "reverse"
	}
}

func requireSameHold(t *testing.T, m, s *ledger.Hold, what string) {
	t.Helper()
	require.Equal(t, m.State, s.State, what)
	require.Equal(t, m.Replayed, s.Replayed, what)
	require.True(t, m.Amount.Equal(s.Amount), what)
	require.True(t, m.Captured.Equal(s.Captured), what)
	require.True(t, m.ExpiresAt.Equal(s.ExpiresAt), what)
	require.True(t, m.CreatedAt.Equal(s.CreatedAt), what)
}

// compareHistory requires the subject's BalanceAt now to be its Balance
// (the history replayed, computed apart from the live path), and its
// BalanceAt an earlier step's instant to be the model's.
func (p *modelPair) compareHistory(t *testing.T, account string, now *ledger.Balance, msg string) {
	t.Helper()
	ctx := t.Context()
	at, err := p.subject.BalanceAt(ctx, account, now.At)
	require.NoError(t, err, msg)
	require.True(t, now.Available.Equal(at.Available), "%s: %s: Balance %s, BalanceAt now %s", msg, account, now.Available, at.Available)
	require.True(t, now.Held.Equal(at.Held), "%s: %s: held: Balance %s, BalanceAt now %s", msg, account, now.Held, at.Held)
	require.Equal(t, lotShapes(now.Lots), lotShapes(at.Lots), "%s: lots of %s at now", msg, account)
	require.Equal(t, lotShapes(now.Upcoming), lotShapes(at.Upcoming), "%s: upcoming lots of %s at now", msg, account)
	require.Equal(t, len(now.Pools), len(at.Pools), "%s: pools of %s at now", msg, account)
	for name, np := range now.Pools {
		require.True(t, np.Available.Equal(at.Pools[name].Available), "%s: %s pool %q: Balance %s, BalanceAt now %s", msg, account, name,
			np.Available, at.Pools[name].Available)
	}
	if len(p.times) == 0 {
		return
	}
	past := p.times[len(p.times)/2+len(p.times)%7%(len(p.times)/2+1)]
	mb, merr := p.model.BalanceAt(ctx, account, past)
	sb, serr := p.subject.BalanceAt(ctx, account, past)
	require.Equal(t, errClass(merr), errClass(serr), "%s: BalanceAt %s", msg, past)
	if merr == nil {
		require.True(t, mb.Available.Equal(sb.Available), "%s: %s at %s", msg, account, past)
		require.True(t, mb.Held.Equal(sb.Held), "%s: %s held at %s", msg, account, past)
		require.Equal(t, lotShapes(mb.Lots), lotShapes(sb.Lots), "%s: lots of %s at %s", msg, account, past)
	}
}
