package bunstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
)

var (
	_ storage.LockLoader    = (*tx)(nil)
	_ storage.CommitApplier = (*tx)(nil)
)

// lockAndLoadQuery calls the function of migration 2 that locks the
// accounts and then reads their open lots and the operations of the keys,
// in one round trip (see its comment in the migration).
const lockAndLoadQuery = `SELECT * FROM creditledger_lock_and_load(?::text[], ?::text[], ?::text[])`

// LockAndLoad implements storage.LockLoader. On PostgreSQL it is one call
// of creditledger_lock_and_load, a VOLATILE function whose statements each
// take a new snapshot: the lock first, then the reads, which therefore see
// what the holders of the locks committed. (One plain statement could
// not: its snapshot is taken before it waits for a lock.) On SQLite, where
// the transaction holds the database, it is LockAccounts then Load.
func (t *tx) LockAndLoad(ctx context.Context, ids []string, create bool, now time.Time, q storage.LoadQuery) ([]storage.Account, *storage.Loaded, error) {
	if t.s.kind != postgres {
		return t.lockThenLoad(ctx, ids, create, now, q)
	}
	ids = uniqueSorted(ids)
	if len(ids) == 0 {
		return nil, &storage.Loaded{}, nil
	}
	if create {
		for _, id := range ids {
			if err := checkText("account id", id); err != nil {
				return nil, nil, err
			}
		}
		if err := t.createAccounts(ctx, ids, now); err != nil {
			return nil, nil, fmt.Errorf("bunstore: creating accounts: %w", err)
		}
	}
	rows, err := t.query(ctx, lockAndLoadQuery,
		t.textArray(ids), t.textArray(uniqueSorted(q.LotsOf)), t.textArray(uniqueSorted(q.Keys)))
	if err != nil {
		return nil, nil, fmt.Errorf("bunstore: locking and loading accounts: %w", err)
	}
	accounts, loaded, err := scanLockAndLoad(rows)
	if err != nil {
		return nil, nil, fmt.Errorf("bunstore: locking and loading accounts: %w", err)
	}
	return accounts, loaded, nil
}

func (t *tx) lockThenLoad(ctx context.Context, ids []string, create bool, now time.Time, q storage.LoadQuery) ([]storage.Account, *storage.Loaded, error) {
	accounts, err := t.LockAccounts(ctx, ids, create, now)
	if err != nil {
		return nil, nil, err
	}
	loaded, err := t.Load(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	return accounts, loaded, nil
}

// scanLockAndLoad reads the rows of lockAndLoadQuery: accounts, lots and
// operations, each by ID.
func scanLockAndLoad(rows rowsIter) (accounts []storage.Account, loaded *storage.Loaded, err error) {
	defer func() { _ = rows.Close() }()
	loaded = &storage.Loaded{}
	for rows.Next() {
		var (
			kind           int
			id, account    string
			s1, s2, s3     textCol
			i1, i2, i3     sql.NullInt64
			t1, t2, t3, t4 timeCol
		)
		if err := rows.Scan(&kind, &id, &account, &s1, &s2, &s3, &i1, &i2, &i3, &t1, &t2, &t3, &t4); err != nil {
			return nil, nil, err
		}
		switch kind {
		case 0:
			accounts = append(accounts, storage.Account{
				ID: id, Plan: string(s1), Anchor: t1.t, Balance: i1.Int64, Seq: i2.Int64,
				CreatedAt: t2.t, NextGrantAt: t3.ptr(), NextExpiryAt: t4.ptr(),
			})
		case 1:
			loaded.Lots = append(loaded.Lots, storage.Lot{
				ID: id, Account: account, OperationID: string(s1), Source: string(s2),
				Amount: i1.Int64, Remaining: i2.Int64, Priority: int(i3.Int64),
				ExpiresAt: t1.ptr(), CreatedAt: t2.t,
			})
		case 2:
			loaded.Operations = append(loaded.Operations, storage.Operation{
				ID: id, Key: string(s1), Kind: storage.EntryKind(s2), Account: account, Hash: string(s3),
				Available: i1.Int64, CreatedAt: t1.t,
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	byID := func(a, b string) int { return strings.Compare(a, b) }
	slices.SortFunc(accounts, func(a, b storage.Account) int { return byID(a.ID, b.ID) })
	slices.SortFunc(loaded.Lots, func(a, b storage.Lot) int { return byID(a.ID, b.ID) })
	slices.SortFunc(loaded.Operations, func(a, b storage.Operation) int { return byID(a.ID, b.ID) })
	return accounts, loaded, nil
}
