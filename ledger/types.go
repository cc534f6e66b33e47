package ledger

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/storage"
)

// EntryKind says what an entry records.
type EntryKind = storage.EntryKind

// The kinds of entries.
const (
	KindGrant   = storage.KindGrant   // credits added: a lot was created
	KindConsume = storage.KindConsume // credits spent from a lot
	KindExpire  = storage.KindExpire  // what remained of an expired lot
	// KindPlan: the account's plan or anchor changed (SetPlan, SetPlans).
	// Amount 0, no lot; Source is the new plan, Metadata its anchor
	// ("anchor") and the plan before ("previous_plan").
	KindPlan = storage.KindPlan
)

// Lot is one grant and what remains of it.
type Lot struct {
	ID, Account, Source string
	Amount, Remaining   decimal.Decimal
	Priority            int
	ExpiresAt           *time.Time // nil: never
	CreatedAt           time.Time
}

// Entry is one immutable line of an account's history.
type Entry struct {
	ID, Account, OperationID, LotID string
	Kind                            EntryKind
	// Amount is signed: positive for grants, negative for consumes and
	// expiries. BalanceAfter is the account's booked balance after this
	// entry: the sum of all its entries so far.
	Amount, BalanceAfter decimal.Decimal
	Source, Description  string
	Metadata             map[string]string
	CreatedAt            time.Time
	// Ref names the operation the entry answers: the hold's ID on release
	// and capture entries, the reversed operation's ID on reverse
	// entries; "" otherwise.
	Ref string
}

// Receipt is the result of a write.
type Receipt struct {
	OperationID string
	Entries     []Entry
	// Balance is the account's available balance right after the
	// operation.
	Balance decimal.Decimal
	// Replayed is true when the idempotency key had been used before with
	// the same parameters: this is the first call's receipt and nothing
	// was written.
	Replayed bool
	// NothingToReverse is true only for a Reverse that found nothing left
	// to take back (reversed before, spent, held or expired): the receipt
	// then has no entries and an empty OperationID, and nothing was
	// written. It is not an error, so a retried refund succeeds.
	NothingToReverse bool
}

// Balance is an account's spendable credits at one instant.
type Balance struct {
	Account string
	// Available is what can be spent: the remaining of unexpired lots,
	// without what active holds reserve.
	Available decimal.Decimal
	// Held is what active holds reserve (Hold); not part of Available.
	Held decimal.Decimal
	Lots []Lot // open lots (remaining > 0, not expired), in burn order
	// Plan is the account's plan, "" when none was set.
	Plan string
	// At is the instant the balance is for.
	At time.Time

	// v0.3 (overdraft.go)

	// Owed is what the default pool owes under an overdraft (zero when it
	// owes nothing); while it owes, Available is zero.
	Owed decimal.Decimal
}

func (l *Ledger) lotOut(r *storage.Lot) Lot {
	return Lot{
		ID:        r.ID,
		Account:   r.Account,
		Source:    r.Source,
		Amount:    toDecimal(r.Amount, l.scale),
		Remaining: toDecimal(r.Remaining, l.scale),
		Priority:  r.Priority,
		ExpiresAt: r.ExpiresAt,
		CreatedAt: r.CreatedAt,
	}
}

func (l *Ledger) entryOut(r *storage.Entry) Entry {
	return Entry{
		ID:           r.ID,
		Account:      r.Account,
		OperationID:  r.OperationID,
		LotID:        r.LotID,
		Kind:         r.Kind,
		Amount:       toDecimal(r.Amount, l.scale),
		BalanceAfter: toDecimal(r.BalanceAfter, l.scale),
		Source:       r.Source,
		Description:  r.Description,
		Metadata:     r.Metadata,
		CreatedAt:    r.CreatedAt,
		Ref:          r.Ref,
	}
}

func (l *Ledger) entriesOut(rs []storage.Entry) []Entry {
	out := make([]Entry, len(rs))
	for i := range rs {
		out[i] = l.entryOut(&rs[i])
	}
	return out
}
