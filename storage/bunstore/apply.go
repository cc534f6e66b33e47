package bunstore

import (
	"fmt"
	"math"
	"slices"
	"strings"

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
}

func prepare(b *storage.Batch) (*writes, error) {
	w := &writes{
		lots:    slices.Clone(b.Lots),
		entries: b.Entries,
	}
	type lotKey struct{ account, id string }
	newLot := make(map[lotKey]int, len(w.lots))
	for i, l := range w.lots {
		if err := checkTexts("lot", l.ID, l.Account, l.OperationID, l.Source); err != nil {
			return nil, err
		}
		newLot[lotKey{l.Account, l.ID}] = i
	}
	for _, e := range b.Entries {
		if err := checkTexts("entry", e.ID, e.Account, e.OperationID, e.LotID, string(e.Kind), e.Source, e.Description,
			e.Key, e.ParamHash, e.Ref); err != nil {
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
			if amount > w.lots[i].Remaining || w.lots[i].Remaining-amount > w.lots[i].Amount {
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
