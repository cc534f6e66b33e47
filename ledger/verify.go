package ledger

import (
	"context"
	"fmt"

	"github.com/creditledger/creditledger/storage"
)

// verifyChunk is the number of accounts Verify reads at a time.
const verifyChunk = 500

// VerifyReport is what Verify found.
type VerifyReport struct {
	Accounts, Lots, Entries int // how many were checked
	Violations              []Violation
}

// OK reports whether no invariant was violated.
func (r *VerifyReport) OK() bool { return len(r.Violations) == 0 }

// Violation is one broken invariant.
type Violation struct {
	Account string
	LotID   string // "" when the violation is about the account
	Problem string
}

func (v Violation) String() string {
	if v.LotID != "" {
		return fmt.Sprintf("account %q lot %s: %s", v.Account, v.LotID, v.Problem)
	}
	return fmt.Sprintf("account %q: %s", v.Account, v.Problem)
}

// Verify checks every account's invariants, reading the whole store a
// chunk of accounts at a time:
//   - its entries are numbered 1..n with no gap, and each one's
//     BalanceAfter is the previous one plus its amount (nothing was
//     changed or removed);
//   - its booked balance equals its last BalanceAfter and the sum of its
//     lots' remaining;
//   - every lot has exactly one grant entry of its amount, its remaining
//     is that amount plus its debit entries, and stays within [0, amount];
//   - its next expiry time is not later than its soonest open lot's.
//
// It returns the report; an error only when the store cannot be read.
// Verify takes no locks: run it when no writes are in flight, or expect
// it to see a write half-way (a store's reads are per statement).
func (l *Ledger) Verify(ctx context.Context) (_ *VerifyReport, err error) {
	ctx, call := l.tel.begin(ctx, opVerify)
	defer func() { call.end(ctx, false, err) }()
	rep := &VerifyReport{}
	after := ""
	for {
		dumps, err := l.store.Scan(ctx, after, verifyChunk)
		if err != nil {
			return nil, fmt.Errorf("creditledger: verify: scan after %q: %w", after, err)
		}
		for i := range dumps {
			l.verifyAccount(rep, &dumps[i])
		}
		if len(dumps) < verifyChunk {
			return rep, nil
		}
		after = dumps[len(dumps)-1].Account.ID
	}
}

func (l *Ledger) verifyAccount(rep *VerifyReport, d *storage.AccountDump) {
	a := &d.Account
	bad := func(lot, format string, args ...any) {
		rep.Violations = append(rep.Violations, Violation{Account: a.ID, LotID: lot, Problem: fmt.Sprintf(format, args...)})
	}
	rep.Accounts++
	rep.Lots += len(d.Lots)
	rep.Entries += len(d.Entries)

	var running int64
	grants := map[string]int{}
	grantAmount := map[string]int64{}
	debits := map[string]int64{}
	for i, e := range d.Entries {
		if e.Seq != int64(i+1) {
			bad("", "entry %s has seq %d where %d was expected (an entry is missing or duplicated)", e.ID, e.Seq, i+1)
		}
		running += e.Amount
		if e.BalanceAfter != running {
			bad("", "entry %d has balance after %d, the entries sum to %d", e.Seq, e.BalanceAfter, running)
			running = e.BalanceAfter // report each break once
		}
		switch e.Kind {
		case storage.KindGrant:
			grants[e.LotID]++
			grantAmount[e.LotID] += e.Amount
		default:
			debits[e.LotID] += e.Amount
		}
	}
	if a.Seq != int64(len(d.Entries)) {
		bad("", "seq is %d but it has %d entries", a.Seq, len(d.Entries))
	}
	if a.Balance != running {
		bad("", "balance is %d but its entries sum to %d", a.Balance, running)
	}
	var remaining int64
	lots := map[string]bool{}
	for _, lot := range d.Lots {
		lots[lot.ID] = true
		remaining += lot.Remaining
		if lot.Remaining < 0 || lot.Remaining > lot.Amount {
			bad(lot.ID, "remaining %d is outside [0, %d]", lot.Remaining, lot.Amount)
		}
		if grants[lot.ID] != 1 || grantAmount[lot.ID] != lot.Amount {
			bad(lot.ID, "has %d grant entries summing to %d for an amount of %d", grants[lot.ID], grantAmount[lot.ID], lot.Amount)
		}
		if want := lot.Amount + debits[lot.ID]; lot.Remaining != want {
			bad(lot.ID, "remaining is %d but amount plus its debits is %d", lot.Remaining, want)
		}
		if lot.Remaining > 0 && lot.ExpiresAt != nil && (a.NextExpiryAt == nil || a.NextExpiryAt.After(*lot.ExpiresAt)) {
			bad(lot.ID, "expires at %s, before the account's next expiry time", lot.ExpiresAt)
		}
	}
	if a.Balance != remaining {
		bad("", "balance is %d but its lots' remaining sum to %d", a.Balance, remaining)
	}
	for lotID := range grants {
		if !lots[lotID] {
			bad(lotID, "has a grant entry but no lot")
		}
	}
	for lotID := range debits {
		if !lots[lotID] {
			bad(lotID, "has debit entries but no lot")
		}
	}
}
