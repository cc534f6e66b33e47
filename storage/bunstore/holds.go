package bunstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/creditledger/creditledger/storage"
)

// Holds returns holds of q.Account by CreatedAt then ID: all, the one
// named q.ID, and with q.OnlyActive those in state active.
func (s *Store) Holds(ctx context.Context, q storage.HoldQuery) ([]storage.Hold, error) {
	where := "account_id = ?"
	args := []any{q.Account}
	if q.ID != "" {
		where += " AND id = ?"
		args = append(args, q.ID)
	}
	if q.OnlyActive {
		where += " AND state = 'active'"
	}
	holds, err := queryAll(ctx, iconn{s.reader()}, scanHold,
		"SELECT "+holdCols+" FROM creditledger_holds WHERE "+where+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: holds of %q: %w", q.Account, err)
	}
	return holds, nil
}

// pairs splits account keys into their distinct accounts and keys, and a
// set of the pairs to keep rows by.
func pairs(ks []storage.AccountKey) (accounts, keys []string, set map[storage.AccountKey]bool) {
	set = make(map[storage.AccountKey]bool, len(ks))
	for _, k := range ks {
		set[k] = true
		accounts = append(accounts, k.Account)
		keys = append(keys, k.Key)
	}
	return uniqueSorted(accounts), uniqueSorted(keys), set
}

// loader is a transaction of either dialect as loadHolds reads through
// it.
type loader interface {
	queryer
	// in returns "col IN values" as a condition and its arguments, or an
	// error wrapping storage.ErrInvalidArgument for a value the dialect
	// cannot write.
	in(col string, values []string) (string, []any, error)
}

// loadHolds reads what q asks of holds, lots by id and entries by
// operation into out, through t.
func loadHolds(ctx context.Context, t loader, q storage.LoadQuery, out *storage.Loaded) error {
	seen := map[storage.AccountKey]bool{}
	add := func(hs []storage.Hold, keep map[storage.AccountKey]bool) {
		for _, h := range hs {
			k := storage.AccountKey{Account: h.Account, Key: h.ID}
			if (keep == nil || keep[k]) && !seen[k] {
				seen[k] = true
				out.Holds = append(out.Holds, h)
			}
		}
	}
	if ids := uniqueSorted(q.HoldsOf); len(ids) > 0 {
		in, args, err := t.in("account_id", ids)
		if err != nil {
			return err
		}
		hs, err := queryAll(ctx, t, scanHold,
			"SELECT "+holdCols+" FROM creditledger_holds WHERE "+in+" AND state = 'active' ORDER BY account_id, created_at, id", args...)
		if err != nil {
			return fmt.Errorf("bunstore: loading active holds: %w", err)
		}
		add(hs, nil)
	}
	if len(q.Holds) > 0 {
		accounts, ids, set := pairs(q.Holds)
		where, args, err := inBoth(t, "account_id", accounts, "id", ids)
		if err != nil {
			return err
		}
		hs, err := queryAll(ctx, t, scanHold,
			"SELECT "+holdCols+" FROM creditledger_holds WHERE "+where+" ORDER BY account_id, created_at, id", args...)
		if err != nil {
			return fmt.Errorf("bunstore: loading holds: %w", err)
		}
		add(hs, set)
	}
	if len(q.Lots) > 0 {
		accounts, ids, set := pairs(q.Lots)
		where, args, err := inBoth(t, "account_id", accounts, "id", ids)
		if err != nil {
			return err
		}
		lots, err := queryAll(ctx, t, scanLot,
			"SELECT "+lotCols+" FROM creditledger_lots WHERE "+where+" ORDER BY account_id, id", args...)
		if err != nil {
			return fmt.Errorf("bunstore: loading lots by id: %w", err)
		}
		for _, l := range lots {
			if set[storage.AccountKey{Account: l.Account, Key: l.ID}] {
				out.Lots = append(out.Lots, l)
			}
		}
	}
	if len(q.Refs) > 0 {
		accounts, ids, set := pairs(q.Refs)
		inA, argA, err := t.in("account_id", accounts)
		if err != nil {
			return err
		}
		inO, argO, err := t.in("operation_id", ids)
		if err != nil {
			return err
		}
		inR, argR, err := t.in("ref", ids)
		if err != nil {
			return err
		}
		entries, err := queryAll(ctx, t, scanEntry,
			"SELECT "+entryCols+" FROM creditledger_entries WHERE "+inA+" AND ("+inO+" OR "+inR+") ORDER BY account_id, seq",
			slices.Concat(argA, argO, argR)...)
		if err != nil {
			return fmt.Errorf("bunstore: loading entries by operation: %w", err)
		}
		for _, e := range entries {
			if set[storage.AccountKey{Account: e.Account, Key: e.OperationID}] ||
				(e.Ref != "" && set[storage.AccountKey{Account: e.Account, Key: e.Ref}]) {
				out.Entries = append(out.Entries, e)
			}
		}
	}
	return nil
}

// inBoth returns "colA IN a AND colB IN b" and its arguments.
func inBoth(t loader, colA string, a []string, colB string, b []string) (string, []any, error) {
	inA, argA, err := t.in(colA, a)
	if err != nil {
		return "", nil, err
	}
	inB, argB, err := t.in(colB, b)
	if err != nil {
		return "", nil, err
	}
	return inA + " AND " + inB, slices.Concat(argA, argB), nil
}

// prepareHolds checks the batch's holds and hold updates into w: an
// update of a hold the batch inserts is folded into the insert, which the
// update's statement could not see.
func (w *writes) prepareHolds(b *storage.Batch) error {
	w.holds = slices.Clone(b.Holds)
	fresh := make(map[storage.AccountKey]int, len(w.holds))
	for i, h := range w.holds {
		if err := checkTexts("hold", h.ID, h.Account); err != nil {
			return err
		}
		if h.State != storage.HoldActive {
			return fmt.Errorf("%w: new hold %s in state %q", storage.ErrInvalidArgument, h.ID, h.State)
		}
		fresh[storage.AccountKey{Account: h.Account, Key: h.ID}] = i
	}
	seen := map[storage.AccountKey]bool{}
	for _, u := range b.HoldUpdates {
		if err := checkTexts("hold update", u.ID, u.Account, u.EndOperationID); err != nil {
			return err
		}
		k := storage.AccountKey{Account: u.Account, Key: u.ID}
		if seen[k] {
			return fmt.Errorf("%w: hold %s of account %q ended twice in one batch", storage.ErrNotFound, u.ID, u.Account)
		}
		seen[k] = true
		if i, ok := fresh[k]; ok {
			h := &w.holds[i]
			end := u.EndedAt
			h.State, h.Captured, h.EndedAt, h.EndOperationID = u.State, u.Captured, &end, u.EndOperationID
			continue
		}
		w.ended = append(w.ended, u)
	}
	for _, h := range w.holds {
		for _, ln := range h.Lines {
			if err := checkText("hold line lot", ln.LotID); err != nil {
				return err
			}
		}
	}
	return nil
}
