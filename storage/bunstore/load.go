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

// A loadStep is one statement of a load and what becomes of its rows:
// steps whose statements do not depend on each other's rows run in one
// round trip on a pipelined transaction (runSteps).
type loadStep struct {
	what  string // for errors: "loading holds"
	query string
	args  []any
	read  func(rows rowsIter) error
}

// stepOf is the loadStep of query, each of whose rows scan makes a T for
// keep.
func stepOf[T any](what, query string, args []any, scan func(rowScanner) (T, error), keep func(T)) loadStep {
	return loadStep{what: what, query: query, args: args, read: func(rows rowsIter) error {
		return scanEach(rows, scan, keep)
	}}
}

// runSteps runs steps in their order: on a pipelined PostgreSQL
// transaction all in one round trip (tx.pipelined), else one after
// another. Each step's statement runs after the one before it has (a
// pipeline's statements run in order), under a new snapshot in READ
// COMMITTED, so either way it sees what the locks' holders committed.
func runSteps(ctx context.Context, t loader, steps []loadStep) error {
	if pt, ok := t.(*tx); ok && pt.pc != nil && len(steps) > 1 {
		return pt.pipelined(ctx, steps)
	}
	for _, st := range steps {
		rows, err := t.query(ctx, st.query, st.args...)
		if err == nil {
			err = st.read(rows)
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("bunstore: %s: %w", st.what, err)
		}
	}
	return nil
}

// loadHolds reads what q asks of holds, lots by id and entries by
// operation into out, through t.
func loadHolds(ctx context.Context, t loader, q storage.LoadQuery, out *storage.Loaded) error {
	steps, err := holdSteps(t, q, out)
	if err != nil {
		return err
	}
	return runSteps(ctx, t, steps)
}

// holdSteps are the statements of loadHolds: each adds its rows to out
// as it reads them.
func holdSteps(t loader, q storage.LoadQuery, out *storage.Loaded) ([]loadStep, error) {
	var steps []loadStep
	seen := map[storage.AccountID]bool{}
	add := func(keep map[storage.AccountID]bool) func(storage.Hold) {
		return func(h storage.Hold) {
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
			return nil, err
		}
		steps = append(steps, stepOf("loading active holds",
			"SELECT "+holdCols+" FROM creditledger_holds WHERE "+in+" AND state = 'active' ORDER BY account_id, created_at, id", args,
			scanHold, add(nil)))
	}
	if len(q.Holds) > 0 {
		accounts, ids, set := pairs(q.Holds)
		where, args, err := inBoth(t, "account_id", accounts, "id", ids)
		if err != nil {
			return nil, err
		}
		steps = append(steps, stepOf("loading holds",
			"SELECT "+holdCols+" FROM creditledger_holds WHERE "+where+" ORDER BY account_id, created_at, id", args,
			scanHold, add(set)))
	}
	if len(q.Lots) > 0 {
		accounts, ids, set := pairs(q.Lots)
		where, args, err := inBoth(t, "account_id", accounts, "id", ids)
		if err != nil {
			return nil, err
		}
		steps = append(steps, stepOf("loading lots by id",
			"SELECT "+lotCols+" FROM creditledger_lots WHERE "+where+" ORDER BY account_id, id", args,
			scanLot, func(l storage.Lot) {
				if set[storage.AccountID{Account: l.Account, ID: l.ID}] {
					out.Lots = append(out.Lots, l)
				}
			}))
	}
	if len(q.Refs) > 0 {
		accounts, ids, set := pairs(q.Refs)
		inA, argA, err := t.in("account_id", accounts)
		if err != nil {
			return nil, err
		}
		inO, argO, err := t.in("operation_id", ids)
		if err != nil {
			return nil, err
		}
		inR, argR, err := t.in("ref", ids)
		if err != nil {
			return nil, err
		}
		steps = append(steps, stepOf("loading entries by operation",
			"SELECT "+entryCols+" FROM creditledger_entries WHERE "+inA+" AND ("+inO+" OR "+inR+") ORDER BY account_id, seq",
			slices.Concat(argA, argO, argR),
			scanEntry, func(e storage.Entry) {
				if set[storage.AccountID{Account: e.Account, ID: e.OperationID}] ||
					(e.Ref != "" && set[storage.AccountID{Account: e.Account, ID: e.Ref}]) {
					out.Entries = append(out.Entries, e)
				}
			}))
	}
	return steps, nil
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
