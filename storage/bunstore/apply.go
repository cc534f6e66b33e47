package bunstore

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// writes is a Batch made ready for set-based statements that see the
// database as it was before the batch: debits summed per lot, debits of
// lots the batch inserts folded into their remaining, one update per
// account (the last one given).
type writes struct {
	lots     []storage.Lot
	entries  []storage.Entry
	debits   []storage.LotDebit
	accounts []storage.AccountUpdate
	holds    []storage.Hold // new holds, ended ones of the batch folded in
	ended    []storage.HoldUpdate
	// expiries change stored lots' expiry, one per lot (the last given);
	// those of lots the batch inserts are folded into w.lots.
	expiries []storage.LotExpiry
}

func prepare(b *storage.Batch) (*writes, error) {
	w := &writes{
		lots:    slices.Clone(b.Lots),
		entries: b.Entries,
	}
	type lotKey struct{ account, id string }
	newLot := make(map[lotKey]int, len(w.lots))
	for i, l := range w.lots {
		if err := checkTexts("lot", l.ID, l.Account, l.OperationID, l.Source, l.Pool); err != nil {
			return nil, err
		}
		newLot[lotKey{l.Account, l.ID}] = i
	}
	for _, e := range b.Entries {
		if err := checkTexts("entry", e.ID, e.Account, e.OperationID, e.LotID, string(e.Kind), e.Source, e.Description,
			e.Key, e.ParamHash, e.Ref, e.Pool, e.Feature, e.Quantity); err != nil {
			return nil, err
		}
		if len(e.Hash) == 0 {
			return nil, fmt.Errorf("%w: entry %s of account %q has no hash", storage.ErrInvalidArgument, e.ID, e.Account)
		}
		for k, v := range e.Metadata {
			if err := checkTexts("entry metadata", k, v); err != nil {
				return nil, err
			}
		}
	}

	sums := make(map[lotKey]int64, len(b.Debits))
	for _, d := range b.Debits {
		if err := checkTexts("lot debit", d.Account, d.LotID); err != nil {
			return nil, err
		}
		if d.Amount <= 0 {
			return nil, fmt.Errorf("%w: debit of lot %s by %d (want > 0)", storage.ErrInvalidAmount, d.LotID, d.Amount)
		}
		k := lotKey{d.Account, d.LotID}
		if sums[k] > math.MaxInt64-d.Amount {
			return nil, fmt.Errorf("%w: debits of lot %s overflow int64", storage.ErrInvalidAmount, d.LotID)
		}
		sums[k] += d.Amount
	}
	// Credits fold in as negative debits: a lot's writes apply as one net
	// change, which the lots' CHECK bounds to [0, amount].
	for _, c := range b.Credits {
		if err := checkTexts("lot credit", c.Account, c.LotID); err != nil {
			return nil, err
		}
		if c.Amount <= 0 {
			return nil, fmt.Errorf("%w: credit of lot %s by %d (want > 0)", storage.ErrInvalidAmount, c.LotID, c.Amount)
		}
		k := lotKey{c.Account, c.LotID}
		if sums[k] < math.MinInt64+c.Amount {
			return nil, fmt.Errorf("%w: credits of lot %s overflow int64", storage.ErrInvalidAmount, c.LotID)
		}
		sums[k] -= c.Amount
	}
	if err := w.prepareHolds(b); err != nil {
		return nil, err
	}
	if err := checkEvents(b); err != nil {
		return nil, err
	}
	for k, amount := range sums {
		if amount == 0 {
			continue // debits and credits cancel out
		}
		if i, ok := newLot[k]; ok {
			// A lot written by this batch: the statement that
			// inserts it cannot see it, so debit it before.
			if !remainingAllowed(&w.lots[i], w.lots[i].Remaining-amount) {
				return nil, fmt.Errorf("bunstore: apply: %w: debit of %d exceeds the remaining %d of lot %s (or a credit its amount)",
					storage.ErrInsufficientCredits, amount, w.lots[i].Remaining, k.id)
			}
			w.lots[i].Remaining -= amount
			continue
		}
		w.debits = append(w.debits, storage.LotDebit{Account: k.account, LotID: k.id, Amount: amount})
	}
	// Key order: the order in which rows are locked by every writer.
	slices.SortFunc(w.debits, func(a, b storage.LotDebit) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return strings.Compare(a.LotID, b.LotID)
	})

	if err := w.prepareExpiries(b, func(account, id string) (int, bool) {
		i, ok := newLot[lotKey{account, id}]
		return i, ok
	}); err != nil {
		return nil, err
	}

	last := make(map[string]int, len(b.Accounts))
	for i, u := range b.Accounts {
		if err := checkTexts("account update", u.ID, u.Plan); err != nil {
			return nil, err
		}
		last[u.ID] = i
	}
	for i, u := range b.Accounts {
		if last[u.ID] == i {
			w.accounts = append(w.accounts, u)
		}
	}
	slices.SortFunc(w.accounts, func(a, b storage.AccountUpdate) int { return strings.Compare(a.ID, b.ID) })
	return w, nil
}

// remainingAllowed reports whether a lot may have remaining r: within [0,
// amount], or at or below 0 for a debt lot (whose amount is 0), as the
// lots' CHECK says.
func remainingAllowed(l *storage.Lot, r int64) bool {
	if l.Debt {
		return l.Amount == 0 && r <= 0
	}
	return r >= 0 && r <= l.Amount
}

// prepareExpiries keeps the last expiry change of each lot of b: folded
// into the lot when the batch inserts it (newLot finds it), else in
// w.expiries in key order.
func (w *writes) prepareExpiries(b *storage.Batch, newLot func(account, id string) (int, bool)) error {
	if len(b.LotExpiries) == 0 {
		return nil
	}
	type lotKey struct{ account, id string }
	last := make(map[lotKey]int, len(b.LotExpiries))
	for i, x := range b.LotExpiries {
		if err := checkTexts("lot expiry", x.Account, x.LotID); err != nil {
			return err
		}
		last[lotKey{x.Account, x.LotID}] = i
	}
	for i, x := range b.LotExpiries {
		if last[lotKey{x.Account, x.LotID}] != i {
			continue
		}
		if j, ok := newLot(x.Account, x.LotID); ok {
			w.lots[j].ExpiresAt = x.ExpiresAt
			continue
		}
		w.expiries = append(w.expiries, x)
	}
	slices.SortFunc(w.expiries, func(a, b storage.LotExpiry) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return strings.Compare(a.LotID, b.LotID)
	})
	return nil
}

// lotChange is a stored lot's net debit (0 for none) and, with
// setExpiry, its new expiry: PostgreSQL's Apply writes both in one UPDATE
// when the batch sets expiries.
type lotChange struct {
	account, id string
	amount      int64
	setExpiry   bool
	expiresAt   *time.Time
}

var lotChangeColumns = columns[lotChange]{
	{"account_id", "text", func(c cells, d *lotChange) { c.str(d.account) }, nil},
	{"id", "text", func(c cells, d *lotChange) { c.str(d.id) }, nil},
	{"amount", "bigint", func(c cells, d *lotChange) { c.int(d.amount) }, nil},
	{"set_expiry", "bool", func(c cells, d *lotChange) { c.bool(d.setExpiry) }, nil},
	{"expires_at", "timestamptz", func(c cells, d *lotChange) { c.nullTime(d.expiresAt) }, nil},
}

// lotChanges merges w.debits and w.expiries into one change per lot, in
// key order.
func (w *writes) lotChanges() []lotChange {
	type lotKey struct{ account, id string }
	at := make(map[lotKey]int, len(w.debits)+len(w.expiries))
	out := make([]lotChange, 0, len(w.debits)+len(w.expiries))
	for _, d := range w.debits {
		at[lotKey{d.Account, d.LotID}] = len(out)
		out = append(out, lotChange{account: d.Account, id: d.LotID, amount: d.Amount})
	}
	for _, x := range w.expiries {
		k := lotKey{x.Account, x.LotID}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, lotChange{account: x.Account, id: x.LotID})
		}
		out[i].setExpiry, out[i].expiresAt = true, x.ExpiresAt
	}
	slices.SortFunc(out, func(a, b lotChange) int {
		if c := strings.Compare(a.account, b.account); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// changedLots is how many stored lots w debits or sets the expiry of.
func (w *writes) changedLots() int {
	if len(w.expiries) == 0 {
		return len(w.debits)
	}
	return len(w.lotChanges())
}

func applyError(err error, b *storage.Batch) error {
	switch {
	case isDuplicateOperationKey(err):
		var keys []string
		for _, e := range b.Entries {
			if e.Key != "" {
				keys = append(keys, e.Key)
			}
		}
		which := fmt.Sprintf("one of the keys %q", keys)
		if len(keys) == 1 {
			which = fmt.Sprintf("key %q", keys[0])
		}
		return fmt.Errorf("bunstore: apply: %w: %s: %w", storage.ErrDuplicateKey, which, err)
	case isLotRemainingViolation(err):
		return fmt.Errorf("bunstore: apply: %w: a lot debit exceeds the lot's remaining (or a lot's remaining is outside [0, amount]): %w", storage.ErrInsufficientCredits, err)
	case isRequiredCountViolation(err):
		return fmt.Errorf("bunstore: apply: %w: %w", storage.ErrNotFound, err)
	case isForeignKeyViolation(err):
		return fmt.Errorf("bunstore: apply: %w: a record names an account, operation or lot that does not exist: %w",
			storage.ErrNotFound, err)
	default:
		return fmt.Errorf("bunstore: apply: %w", err)
	}
}
