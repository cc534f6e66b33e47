package bunstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/creditledger/creditledger/storage"
)

// loader is a transaction of either dialect as load reads through it.
type loader interface {
	queryer
	// in returns "col IN values" as a condition and its arguments, or an
	// error wrapping storage.ErrInvalidArgument for a value the dialect
	// cannot write.
	in(col string, values []string) (string, []any, error)
	// calls reads the first entries of the calls of keys (distinct,
	// each with a key).
	calls(ctx context.Context, keys []storage.AccountKey) ([]storage.Operation, error)
}

// load is storage.Tx.Load on either dialect: the open lots of q.LotsOf
// (remaining != 0: open debt lots too),
// the calls of q.Keys, and what q asks of holds, lots by ID and entries
// by operation; one statement for each that is not empty, whatever their
// number.
func load(ctx context.Context, t loader, q storage.LoadQuery) (*storage.Loaded, error) {
	out := &storage.Loaded{}
	if ids := uniqueSorted(q.LotsOf); len(ids) > 0 {
		in, args, err := t.in("account_id", ids)
		if err != nil {
			return nil, err
		}
		// By account and ID: the contract allows any order, but the
		// ledger writes a sweep's expire entries in the order it is given
		// the lots, and each entry's balance after depends on it (the same
		// on every store; SQLite reads them in its primary key's order).
		lots, err := queryAll(ctx, t, scanLot,
			"SELECT "+lotCols+" FROM creditledger_lots WHERE "+in+" AND remaining <> 0 ORDER BY account_id, id", args...)
		if err != nil {
			return nil, fmt.Errorf("bunstore: loading lots: %w", err)
		}
		out.Lots = lots
	}
	if keys := uniqueKeys(q.Keys); len(keys) > 0 {
		ops, err := t.calls(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("bunstore: loading calls by key: %w", err)
		}
		out.Operations = ops
	}
	if err := loadHolds(ctx, t, q, out); err != nil {
		return nil, err
	}
	if err := loadNotices(ctx, t, q, out); err != nil {
		return nil, err
	}
	return out, nil
}

// pairs splits account ids into their distinct accounts and ids, and a
// set of the pairs to keep rows by.
func pairs(ks []storage.AccountID) (accounts, ids []string, set map[storage.AccountID]bool) {
	set = make(map[storage.AccountID]bool, len(ks))
	for _, k := range ks {
		set[k] = true
		accounts = append(accounts, k.Account)
		ids = append(ids, k.ID)
	}
	return uniqueSorted(accounts), uniqueSorted(ids), set
}

// loadHolds reads what q asks of holds, lots by id and entries by
// operation into out, through t.
func loadHolds(ctx context.Context, t loader, q storage.LoadQuery, out *storage.Loaded) error {
	seen := map[storage.AccountID]bool{}
	add := func(hs []storage.Hold, keep map[storage.AccountID]bool) {
		for _, h := range hs {
			k := storage.AccountID{Account: h.Account, ID: h.ID}
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
			if set[storage.AccountID{Account: l.Account, ID: l.ID}] {
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
			if set[storage.AccountID{Account: e.Account, ID: e.OperationID}] ||
				(e.Ref != "" && set[storage.AccountID{Account: e.Account, ID: e.Ref}]) {
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
