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
	// KindSetExpiry: a lot's expiry changed (SetLotExpiry). Amount 0,
	// LotID the lot, Metadata "previous_expires_at" the expiry before
	// (RFC 3339, or "never").
	KindSetExpiry = storage.KindSetExpiry
)

// Lot is one grant and what remains of it.
type Lot struct {
	ID, Account, Source string
	Amount, Remaining   decimal.Decimal
	Priority            int
	ExpiresAt           *time.Time // nil: never
	CreatedAt           time.Time
	// Pool is the credit pool the lot belongs to ("" the default pool).
	Pool string
	// EffectiveAt is when a dated grant's lot becomes spendable; nil: it
	// was spendable from its creation. Before it the lot is listed under
	// Balance.Upcoming, not Lots.
	EffectiveAt *time.Time
}

// Entry is one immutable line of an account's history.
type Entry struct {
	ID, Account, OperationID, LotID string
	Kind                            EntryKind
	// Amount is signed: positive for grants, negative for consumes and
	// expiries. BalanceAfter is the booked balance of the entry's pool
	// after this entry: the sum of the pool's entries so far (for an
	// account that never named a pool, its whole balance, as before
	// pools).
	Amount, BalanceAfter decimal.Decimal
	Source, Description  string
	Metadata             map[string]string
	CreatedAt            time.Time
	// Ref names the operation the entry answers: the hold's ID on release
	// and capture entries, the reversed operation's ID on reverse
	// entries; "" otherwise.
	Ref string
	// Pool is the credit pool of the entry's lot ("" the default pool).
	Pool string
	// Feature and Quantity: on the entries of a Consume or Hold priced
	// by a catalog feature, its ID and the quantity asked; "" and zero
	// otherwise.
	Feature  string
	Quantity decimal.Decimal
}

// Receipt is the result of a write.
type Receipt struct {
	OperationID string
	Entries     []Entry
	// Balance is the available balance right after the operation of the
	// pool the operation was in (the default pool for an account that
	// never named one: the account's).
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

// Balance is an account's spendable credits at one instant. Its
// Available, Held, Lots, Owed and Upcoming are those of the default pool
// ""; Pools has every pool's.
type Balance struct {
	Account string
	// Available is what can be spent: the remaining of unexpired,
	// effective lots, without what active holds reserve, less what the
	// pool owes (never below zero).
	Available decimal.Decimal
	// Held is what active holds reserve (Hold); not part of Available.
	Held decimal.Decimal
	Lots []Lot // spendable lots (remaining > 0, effective, not expired), in burn order
	// Plan is the account's plan, "" when none was set.
	Plan string
	// At is the instant the balance is for.
	At time.Time

	// Owed is what the pool owes under an overdraft beyond what its lots
	// hold (0 when it owes nothing).
	Owed decimal.Decimal
	// Upcoming are the dated grants' lots not effective yet at At, by
	// EffectiveAt (then ID): not spendable, not in Available.
	Upcoming []Lot
	// Pools has an entry for every pool in which the account has, at At,
	// a spendable or upcoming lot, a debt or an active hold, the default
	// pool "" included when it has any; nil when there is none.
	Pools map[string]PoolBalance
}

// PoolBalance is one pool's part of a Balance, with the meanings of
// Balance's fields of the same names.
type PoolBalance struct {
	Available, Held, Owed decimal.Decimal
	Lots, Upcoming        []Lot
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
		Pool:      r.Pool,
		// EffectiveAt is set only while it says something: a lot read
		// back is effective from its creation when nil.
		EffectiveAt: r.EffectiveAt,
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
		Pool:         r.Pool,
		Feature:      r.Feature,
		Quantity:     quantityOf(r.Quantity),
	}
}

// quantityOf reads an entry's stored quantity ("" for none: zero).
func quantityOf(s string) decimal.Decimal {
	if s == "" {
		return decimal.Decimal{}
	}
	q, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{} // written by the ledger, always a decimal
	}
	return q
}

func (l *Ledger) entriesOut(rs []storage.Entry) []Entry {
	out := make([]Entry, len(rs))
	for i := range rs {
		out[i] = l.entryOut(&rs[i])
	}
	return out
}
