package ledger_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
)

// The model test's events: the model's and the subject's agree, and each
// ledger's events, replayed, agree with its history.

// modelLowBalance is the model catalog's balance.low threshold.
var modelLowBalance = decimal.NewFromInt(30)

// eventShapes drops the random ids, keeping what must agree across
// stores, oldest first.
func eventShapes(es []ledger.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[len(es)-1-i] = fmt.Sprintf("%s %s bal %s at %d lot %t", e.Type, e.Amount, e.Balance, e.At.UnixMicro(), e.LotID != "")
	}
	return out
}

func (p *modelPair) compareEvents(t *testing.T, account, msg string) {
	t.Helper()
	ctx := t.Context()
	var shapes [2][]string
	for i, l := range []*ledger.Ledger{p.model, p.subject} {
		es, err := l.ListEvents(ctx, &ledger.EventListOpts{Account: account, Limit: 1000})
		require.NoError(t, err)
		if len(es) == 1000 {
			return // past what one page holds: the history check would be partial
		}
		shapes[i] = eventShapes(es)
		page, err := l.Entries(ctx, account, &ledger.ListOpts{Limit: ledger.MaxPageSize})
		require.NoError(t, err)
		if page.NextCursor != "" {
			return
		}
		replayEvents(t, es, page.Entries, msg+" ("+[]string{"model", "subject"}[i]+")")
	}
	require.Equal(t, shapes[0], shapes[1], "%s: events of %s", msg, account)
}

// replayEvents checks events (newest first) against the history entries
// (newest first) of one account: one credits.granted per grant entry and
// one credits.expired per expire entry, on the same lots and amounts; one
// credits.reversed per reversal; every balance.low at or below the
// threshold, with the balance written above it between two of them.
func replayEvents(t *testing.T, events []ledger.Event, entries []ledger.Entry, msg string) {
	t.Helper()
	var grants, expiries, gotGrants, gotExpiries []string
	reversals := map[string]bool{}
	for _, e := range entries {
		switch e.Kind {
		case ledger.KindGrant:
			grants = append(grants, e.LotID+" "+e.Amount.String())
			if e.Source == ledger.SourceReversal && e.Ref != "" {
				// A reversal of an overdrawn consume whose debt a grant
				// had paid gives the credits back as a lot (overdraft.go).
				reversals[e.OperationID] = true
			}
		case ledger.KindExpire:
			if e.Description == "rolled over" {
				// Moved into the next period's rollover lot, whose grant
				// is a credits.granted: no credits were lost.
				continue
			}
			expiries = append(expiries, e.LotID+" "+e.Amount.Neg().String())
		case ledger.KindReverse:
			reversals[e.OperationID] = true
		}
	}
	reversed := 0
	for _, e := range events {
		switch e.Type {
		case ledger.EventCreditsGranted:
			gotGrants = append(gotGrants, e.LotID+" "+e.Amount.String())
		case ledger.EventCreditsExpired:
			gotExpiries = append(gotExpiries, e.LotID+" "+e.Amount.String())
		case ledger.EventCreditsReversed:
			require.True(t, reversals[e.OperationID], "%s: credits.reversed of an operation that reversed nothing", msg)
			reversed++
		}
	}
	sort.Strings(grants)
	sort.Strings(gotGrants)
	sort.Strings(expiries)
	sort.Strings(gotExpiries)
	require.Equal(t, grants, gotGrants, "%s: credits.granted against the grant entries", msg)
	require.Equal(t, expiries, gotExpiries, "%s: credits.expired against the expire entries", msg)
	require.Equal(t, len(reversals), reversed, "%s: one credits.reversed per reversal", msg)

	// Oldest first: the balances written, and the low events among them.
	oldest := make([]ledger.Entry, len(entries))
	for i, e := range entries {
		oldest[len(entries)-1-i] = e
	}
	lastOf := map[string]int{} // operation -> index of its last entry
	for i, e := range oldest {
		lastOf[e.OperationID] = i
	}
	// Per pool: a pool's balance.low again only after one of that
	// pool's entries left its balance above the threshold.
	lows := map[string][]int{}
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Type != ledger.EventBalanceLow {
			continue
		}
		require.True(t, e.Balance.LessThanOrEqual(modelLowBalance), "%s: balance.low at %s", msg, e.Balance)
		at, ok := lastOf[e.OperationID]
		require.True(t, ok, "%s: balance.low of an operation without entries", msg)
		lows[e.Pool] = append(lows[e.Pool], at)
	}
	for pool, at := range lows {
		for k := 1; k < len(at); k++ {
			above := false
			// The booked balance after an entry bounds the available one
			// until the next entry (a dated lot that becomes effective
			// raises the available balance with no entry), so the
			// balance after the first low's last entry counts too.
			for i := at[k-1]; i < at[k]; i++ {
				above = above || (oldest[i].Pool == pool && oldest[i].BalanceAfter.GreaterThan(modelLowBalance))
			}
			require.True(t, above, "%s: balance.low of pool %q twice (entries %d and %d) without its balance above the threshold between", msg, pool, at[k-1], at[k])
		}
	}
}
