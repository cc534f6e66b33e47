package bunstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// lockAndLoadQuery calls the function (last defined by schema 6) that
// locks the accounts and then reads their open lots and the operations of
// the keys, in one round trip (see its comment in the migration).
const lockAndLoadQuery = `SELECT row_kind, id, account_id, plan, anchor, balance, seq, head_hash,
	created_at, next_grant_at, next_expiry_at, operation_id, source, amount, remaining, priority, expires_at,
	idempotency_key, entry_kind, param_hash, available, pool, effective_at, debt, multi_pool
FROM creditledger_lock_and_load(?::text[], ?::text[], ?::text[], ?::text[])`

// pinPlans is the statement a pipelined transaction sends with its first
// LockAndLoad: from there to its end, its statements use generic plans,
// planned once per connection, made of index look-ups and nested loops.
//
// The statements of a transaction that locks accounts are prepared once
// per connection (the lock's, Apply's), and PostgreSQL would plan most of
// them again at every run: Apply's arrays of rows and the arrays given to
// creditledger_lock_and_load (whose plpgsql statements are prepared too)
// make a plan for the run's arguments look cheaper than the generic one.
// That planning took a fifth of the database's time on a consume
// (docs/BENCHMARKS.md, "Group commit (v0.3)"). A generic plan is kept
// until the table's statistics change, so one made while a table was
// small could scan it whole once it is large (an import's lock went from
// 3 to 128 ms a statement on this machine, whose autovacuum is off): the
// transaction's statements all find their rows by the account, through
// the tables' primary keys, so sequential scans and hash and merge joins
// are turned off for them, which is the plan PostgreSQL picks for a large
// table anyway. LOCAL: the settings end with the transaction, and the
// host's own statements on the connection are planned as the host set.
const pinPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true)`

// LockAndLoad locks ids and loads q in one round trip: one call of
// creditledger_lock_and_load, a VOLATILE function whose statements each
// take a new snapshot: the lock first, then the reads, which therefore see
// what the holders of the locks committed. (One plain statement could
// not: its snapshot is taken before it waits for a lock.)
func (t *tx) LockAndLoad(ctx context.Context, ids []string, create bool, now time.Time, q storage.LoadQuery) ([]storage.Account, *storage.Loaded, error) {
	ids = uniqueSorted(ids)
	if len(ids) == 0 {
		return nil, &storage.Loaded{}, nil
	}
	if t.s.citus.Load() {
		// creditledger_lock_and_load's look-up of keys joins with unnest,
		// which Citus sends to every shard: the statements of
		// LockAccounts and Load name their accounts (pg_claim_citus.go).
		return lockThenLoad(ctx, t, ids, create, now, q)
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
	keyAccounts, keys := splitKeys(uniqueKeys(q.Keys))
	loaded := &storage.Loaded{}
	var accounts []storage.Account
	var steps []loadStep
	if t.pc != nil && !t.pinned {
		t.pinned = true
		steps = append(steps, loadStep{what: "pinning plans", query: pinPlans, read: func(rowsIter) error { return nil }})
	}
	steps = append(steps, loadStep{what: "locking and loading accounts", query: lockAndLoadQuery,
		args: []any{t.textArray(ids), t.textArray(uniqueSorted(q.LotsOf)), t.textArray(keyAccounts), t.textArray(keys)},
		read: func(rows rowsIter) (err error) {
			accounts, err = scanLockAndLoad(rows, loaded)
			return err
		}})
	// Holds, lots by id and entries by operation are read after the
	// function, under the locks it took (READ COMMITTED: a new snapshot),
	// in the same round trip (runSteps).
	more, err := holdSteps(t, q, loaded)
	if err != nil {
		return nil, nil, err
	}
	steps = append(steps, more...)
	if more, err = noticeSteps(t, q, loaded); err != nil {
		return nil, nil, err
	}
	steps = append(steps, more...)
	if err := runSteps(ctx, t, steps); err != nil {
		return nil, nil, err
	}
	return accounts, loaded, nil
}

// scanLockAndLoad reads the rows of lockAndLoadQuery: accounts, and lots
// and operations into loaded, each by ID.
func scanLockAndLoad(rows rowsIter, loaded *storage.Loaded) (accounts []storage.Account, err error) {
	for rows.Next() {
		// The columns of creditledger_lock_and_load, by name.
		var (
			rowKind, id, account           text
			plan, operationID, source      text
			pool                           text
			effectiveAt                    *time.Time
			debt, multiPool                boolean
			key, entryKind, paramHash      text
			anchor, createdAt              utcTime
			nextGrantAt, nextExpiryAt      *time.Time
			expiresAt                      *time.Time
			balance, seq, amount, priority integer
			remaining, available           integer
			headHash                       blob
		)
		if err := rows.Scan(&rowKind, &id, &account, &plan, &anchor, &balance, &seq, &headHash,
			&createdAt, nullTime{&nextGrantAt}, nullTime{&nextExpiryAt}, &operationID, &source, &amount, &remaining, &priority,
			nullTime{&expiresAt}, &key, &entryKind, &paramHash, &available, &pool, nullTime{&effectiveAt}, &debt, &multiPool); err != nil {
			return nil, err
		}
		switch rowKind {
		case "account":
			accounts = append(accounts, storage.Account{
				ID: string(id), Plan: string(plan), Anchor: time.Time(anchor), Balance: int64(balance), Seq: int64(seq),
				HeadHash: headHash, CreatedAt: time.Time(createdAt), NextGrantAt: nextGrantAt, NextExpiryAt: nextExpiryAt,
				MultiPool: bool(multiPool),
			})
		case "lot":
			loaded.Lots = append(loaded.Lots, storage.Lot{
				ID: string(id), Account: string(account), OperationID: string(operationID), Source: string(source),
				Amount: int64(amount), Remaining: int64(remaining), Priority: int(priority),
				ExpiresAt: expiresAt, CreatedAt: time.Time(createdAt),
				Pool: string(pool), EffectiveAt: effectiveAt, Debt: bool(debt),
			})
		case "call":
			loaded.Operations = append(loaded.Operations, storage.Operation{
				ID: string(id), Key: string(key), Kind: storage.EntryKind(entryKind), Account: string(account),
				Hash: string(paramHash), Available: int64(available), Seq: int64(seq), CreatedAt: time.Time(createdAt),
			})
		default:
			return nil, fmt.Errorf("row of unknown kind %q", rowKind)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	byID := func(a, b string) int { return strings.Compare(a, b) }
	slices.SortFunc(accounts, func(a, b storage.Account) int { return byID(a.ID, b.ID) })
	slices.SortFunc(loaded.Lots, func(a, b storage.Lot) int { return byID(a.ID, b.ID) })
	slices.SortFunc(loaded.Operations, func(a, b storage.Operation) int { return byID(a.ID, b.ID) })
	return accounts, nil
}
