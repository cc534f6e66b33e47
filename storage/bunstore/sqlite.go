package bunstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/creditledger/creditledger/storage"
)

// The SQLite write path.
//
// SQLite has one writer at a time and no network between the store and
// the database: what a transaction costs is the work of compiling and
// stepping its statements. So a SQLite transaction runs as few statements
// as the contract allows, each with its arguments bound (never formatted
// into the text, so the text of every statement is one of a fixed set),
// and a batch of any size is one statement per kind of write, its rows
// given as one JSON argument read through json_each:
//
//   - BEGIN IMMEDIATE, taken by the store itself on one pooled connection
//     (no database/sql transaction, whose context watcher costs a goroutine
//     per transaction);
//   - LockAndLoad of one account: one SELECT of the account, its open lots
//     and the call of its key (an INSERT first when it may create it);
//   - Apply: one INSERT of lots, one INSERT of entries, one UPDATE of the
//     debited lots and one UPDATE of the accounts, each only if the batch
//     has rows of that kind; a failure dooms the transaction (Store.Tx then
//     rolls it back and returns the error) instead of costing a savepoint
//     per batch;
//   - COMMIT.
//
// Statements are run with a context that cannot be cancelled, and ctx is
// checked before each one instead: a cancellable context makes the driver
// start a goroutine per statement to interrupt it. A chunk's statements are
// bounded by its size, so none runs long.
//
// Write transactions are serialized in the process by a semaphore in front
// of the connection pool (sqliteWriters): with one connection (Open) it
// keeps waiting writers off database/sql's connection queue, and with a
// host's pool of several connections (New) it keeps two of our writers
// from meeting as SQLITE_BUSY. Readers do not take it.

// sqliteRunner runs statements with bound arguments: a *sql.Conn, or the
// *sql.Tx of a host's transaction.
type sqliteRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// sqliteTx is a storage.Tx on SQLite.
type sqliteTx struct {
	s  *Store
	db sqliteRunner
	// idb is the same connection or transaction seen through bun, for
	// code written against bun.IConn (see legacy).
	idb bun.IConn
	// failed is the error of an Apply that may have written part of its
	// batch: the transaction must not commit.
	failed error
}

var _ storage.Tx = (*sqliteTx)(nil)

// legacy returns the transaction as a bun-based tx, for code written for
// both dialects through bun.
func (t *sqliteTx) legacy() *tx { return &tx{s: t.s, idb: t.idb} }

// exec runs a statement and returns how many rows it changed.
func (t *sqliteTx) execN(ctx context.Context, query string, args ...any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	res, err := t.db.ExecContext(context.WithoutCancel(ctx), query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// exec runs a statement (Init's scale record goes through it).
func (t *sqliteTx) exec(ctx context.Context, query string, args ...any) error {
	_, err := t.execN(ctx, query, args...)
	return err
}

// query runs a query (queryer).
func (t *sqliteTx) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return t.db.QueryContext(context.WithoutCancel(ctx), query, args...)
}

// sqliteTxRun runs fn in one write transaction on one connection of the
// pool: BEGIN IMMEDIATE, fn, COMMIT; ROLLBACK when fn fails, an Apply
// failed, or ctx is done before COMMIT (then ctx's error is returned and
// nothing is written). It holds the store's writer semaphore throughout.
func (s *Store) sqliteTxRun(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) (err error) {
	select {
	case s.sqliteWriters <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sqliteWriters }()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	bg := context.WithoutCancel(ctx)
	broken := false
	defer func() {
		if broken {
			// The connection may still be inside a transaction: make
			// the pool drop it rather than hand it to the next user.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}()
	if _, err := conn.ExecContext(bg, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	t := &sqliteTx{s: s, db: conn.Conn, idb: conn}
	rollback := func(cause error) error {
		if _, rerr := conn.ExecContext(bg, "ROLLBACK"); rerr != nil {
			broken = true
			return fmt.Errorf("%w (and ROLLBACK failed: %w)", cause, rerr)
		}
		return cause
	}
	if err := fn(ctx, t); err != nil {
		return rollback(err)
	}
	if t.failed != nil {
		return rollback(t.failed)
	}
	if err := ctx.Err(); err != nil {
		// Checked before COMMIT, which runs without ctx: a cancellation
		// after this point does not turn a committed write into an error.
		return rollback(err)
	}
	if _, err := conn.ExecContext(bg, "COMMIT"); err != nil {
		// A COMMIT that failed (SQLITE_BUSY from another process) leaves
		// the transaction open.
		return rollback(err)
	}
	return nil
}

// sqliteSavepointTx is savepointTx for SQLite: fn runs under a savepoint
// of the host's transaction, its statements on the host's *sql.Tx.
func (s *Store) sqliteSavepointTx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sp, err := s.idb.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return fmt.Errorf("bunstore: savepoint in the host transaction: %w", err)
	}
	t := &sqliteTx{s: s, db: sp.Tx, idb: sp}
	err = fn(ctx, t)
	if err == nil {
		err = t.failed
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if rerr := sp.Rollback(); rerr != nil {
			return fmt.Errorf("%w (and rolling back to the savepoint failed: %w)", err, rerr)
		}
		return err
	}
	return sp.Commit()
}

// sqliteAccountCols are accountCols of creditledger_accounts.
const sqliteAccountCols = "id, plan, anchor, balance, seq, head_hash, created_at, next_grant_at, next_expiry_at"

// LockAccounts returns the accounts of ids that exist, by ID, creating the
// missing ones first with create (one INSERT ... RETURNING then). The
// transaction already holds the database (BEGIN IMMEDIATE): no row lock
// is needed.
func (t *sqliteTx) LockAccounts(ctx context.Context, ids []string, create bool, now time.Time) ([]storage.Account, error) {
	ids = uniqueSorted(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	var accounts []storage.Account
	var err error
	switch {
	case create:
		for _, id := range ids {
			if err := checkText("account id", id); err != nil {
				return nil, err
			}
		}
		accounts, err = t.createAccounts(ctx, ids, now)
	case len(ids) == 1:
		accounts, err = queryAll(ctx, t, scanAccount,
			"SELECT "+sqliteAccountCols+" FROM creditledger_accounts WHERE id = ?", ids[0])
	default:
		if err := checkTexts("account id", ids...); err != nil {
			return nil, err
		}
		accounts, err = queryAll(ctx, t, scanAccount,
			"SELECT "+sqliteAccountCols+" FROM creditledger_accounts WHERE id IN "+sqlStrings(ids)+" ORDER BY id")
	}
	if err != nil {
		return nil, fmt.Errorf("bunstore: locking accounts: %w", err)
	}
	return accounts, nil
}

// createAccounts inserts the missing accounts of ids and returns all of
// them, by ID: for one account in one statement, an upsert whose no-op
// update of an existing row (of a column no index covers) makes RETURNING
// return it; for more, an INSERT and a SELECT (an update of every row
// would cost more than the second statement).
func (t *sqliteTx) createAccounts(ctx context.Context, ids []string, now time.Time) ([]storage.Account, error) {
	const upsert = " ON CONFLICT (id) DO UPDATE SET plan = creditledger_accounts.plan RETURNING " + sqliteAccountCols
	var accounts []storage.Account
	var err error
	if len(ids) == 1 {
		accounts, err = queryAll(ctx, t, scanAccount,
			"INSERT INTO creditledger_accounts (id, created_at) VALUES (?, ?)"+upsert, ids[0], t.s.timeArg(now))
	} else {
		created := micros(now)
		_, err = t.execRowsN(ctx, "INSERT INTO creditledger_accounts (id, created_at) VALUES ", " ON CONFLICT (id) DO NOTHING",
			len(ids), func(j *sqlValues, i int) {
				j.str(ids[i])
				j.int(created)
			})
		if err == nil {
			accounts, err = queryAll(ctx, t, scanAccount,
				"SELECT "+sqliteAccountCols+" FROM creditledger_accounts WHERE id IN "+sqlStrings(ids)+" ORDER BY id")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bunstore: creating accounts: %w", err)
	}
	sortAccounts(accounts)
	return accounts, nil
}

// sqliteLockAndLoad reads one account, its open lots (when asked) and the
// call of one key of it, in one statement with the columns of
// scanLockAndLoad.
const sqliteLockAndLoad = `SELECT 'account', id, id, plan, anchor, balance, seq, head_hash, created_at, next_grant_at, next_expiry_at,
	NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM creditledger_accounts WHERE id = ?
UNION ALL
SELECT 'lot', id, account_id, NULL, NULL, NULL, NULL, NULL, created_at, NULL, NULL,
	operation_id, source, amount, remaining, priority, expires_at, NULL, NULL, NULL, NULL
FROM creditledger_lots WHERE ? AND account_id = ? AND remaining > 0
UNION ALL
SELECT 'call', operation_id, account_id, NULL, NULL, NULL, seq, NULL, created_at, NULL, NULL,
	NULL, NULL, NULL, NULL, NULL, NULL, idempotency_key, kind, param_hash, available
FROM creditledger_entries WHERE account_id = ? AND idempotency_key = ?`

// LockAndLoad is LockAccounts then Load. For one account whose lots and
// at most one key it loads (every Grant and Consume), the reads are one
// statement, after the INSERT that creates the account with create.
func (t *sqliteTx) LockAndLoad(ctx context.Context, ids []string, create bool, now time.Time, q storage.LoadQuery) ([]storage.Account, *storage.Loaded, error) {
	ids = uniqueSorted(ids)
	lotsOf := uniqueSorted(q.LotsOf)
	keys := uniqueKeys(q.Keys)
	single := len(ids) == 1 && len(keys) <= 1 &&
		(len(lotsOf) == 0 || len(lotsOf) == 1 && lotsOf[0] == ids[0]) &&
		(len(keys) == 0 || keys[0].Account == ids[0])
	if !single {
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
	id := ids[0]
	if create {
		if err := checkText("account id", id); err != nil {
			return nil, nil, err
		}
		if _, err := t.execN(ctx, "INSERT INTO creditledger_accounts (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
			id, t.s.timeArg(now)); err != nil {
			return nil, nil, fmt.Errorf("bunstore: creating accounts: %w", err)
		}
	}
	var key any
	if len(keys) == 1 {
		key = keys[0].Key
	}
	rows, err := t.query(ctx, sqliteLockAndLoad, id, len(lotsOf) == 1, id, id, key)
	if err != nil {
		return nil, nil, fmt.Errorf("bunstore: locking and loading accounts: %w", err)
	}
	accounts, loaded, err := scanLockAndLoad(rows)
	if err != nil {
		return nil, nil, fmt.Errorf("bunstore: locking and loading accounts: %w", err)
	}
	return accounts, loaded, nil
}

// ClaimAccounts returns up to q.Limit accounts with ID > q.After, by ID,
// that are due at q.Now (see storage.ClaimQuery). The transaction holds
// the database: nothing is locked by another, and q.Wait changes nothing.
func (t *sqliteTx) ClaimAccounts(ctx context.Context, q storage.ClaimQuery) ([]storage.Account, error) {
	if q.Limit <= 0 || (!q.Grants && !q.Expiry) {
		return nil, nil
	}
	now := t.s.timeArg(q.Now)
	var due string
	args := []any{q.After}
	switch {
	case q.Grants && q.Expiry:
		due = "(next_grant_at <= ? OR next_expiry_at <= ?)"
		args = append(args, now, now)
	case q.Grants:
		due = "next_grant_at <= ?"
		args = append(args, now)
	default:
		due = "next_expiry_at <= ?"
		args = append(args, now)
	}
	args = append(args, q.Limit)
	accounts, err := queryAll(ctx, t, scanAccount,
		"SELECT "+sqliteAccountCols+" FROM creditledger_accounts WHERE id > ? AND "+due+" ORDER BY id LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: claiming accounts: %w", err)
	}
	return accounts, nil
}

// Load returns the open lots of q.LotsOf and the calls of q.Keys: one
// statement for each that is not empty, whatever their number.
func (t *sqliteTx) Load(ctx context.Context, q storage.LoadQuery) (*storage.Loaded, error) {
	out := &storage.Loaded{}
	if ids := uniqueSorted(q.LotsOf); len(ids) > 0 {
		var lots []storage.Lot
		var err error
		if len(ids) == 1 {
			lots, err = queryAll(ctx, t, scanLot,
				"SELECT "+lotCols+" FROM creditledger_lots WHERE account_id = ? AND remaining > 0", ids[0])
		} else {
			if err := checkTexts("account id", ids...); err != nil {
				return nil, err
			}
			lots, err = queryAll(ctx, t, scanLot,
				"SELECT "+lotCols+" FROM creditledger_lots WHERE account_id IN "+sqlStrings(ids)+" AND remaining > 0")
		}
		if err != nil {
			return nil, fmt.Errorf("bunstore: loading lots: %w", err)
		}
		out.Lots = lots
	}
	if keys := uniqueKeys(q.Keys); len(keys) > 0 {
		var ops []storage.Operation
		var err error
		if len(keys) == 1 {
			ops, err = queryAll(ctx, t, scanCall, "SELECT "+callCols+
				" FROM creditledger_entries WHERE account_id = ? AND idempotency_key = ?", keys[0].Account, keys[0].Key)
		} else {
			for _, k := range keys {
				if err := checkTexts("idempotency key", k.Account, k.Key); err != nil {
					return nil, err
				}
			}
			var j sqlValues
			j.reset("WITH k(account_id, idempotency_key) AS (VALUES ")
			for _, k := range keys {
				j.row()
				j.str(k.Account)
				j.str(k.Key)
			}
			ops, err = queryAll(ctx, t, scanCall, j.finish(") SELECT e.operation_id, e.idempotency_key, e.kind, e.account_id, "+
				"e.param_hash, e.available, e.seq, e.created_at FROM k CROSS JOIN creditledger_entries AS e "+
				"WHERE e.account_id = k.account_id AND e.idempotency_key = k.idempotency_key"))
		}
		if err != nil {
			return nil, fmt.Errorf("bunstore: loading calls by key: %w", err)
		}
		out.Operations = ops
	}
	return out, nil
}

func sortAccounts(accounts []storage.Account) {
	slices.SortFunc(accounts, func(a, b storage.Account) int { return strings.Compare(a.ID, b.ID) })
}

// sqlStrings returns ss as a parenthesized list of SQL string literals.
// ss are checked (checkText) or read from the database.
func sqlStrings(ss []string) string {
	b := make([]byte, 0, 2+len(ss)*24)
	b = append(b, '(')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSQLString(b, s)
	}
	return string(append(b, ')'))
}
