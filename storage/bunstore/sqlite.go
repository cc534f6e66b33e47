package bunstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
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
// stepping its statements, and the modernc driver compiles a statement
// every time it runs it (its prepared statements keep only the SQL text).
// So a SQLite transaction runs as few and as small statements as the
// contract allows, and a batch of any size is one statement per kind of
// write, its rows written as the literals of one multi-row VALUES (see
// sqlValues):
//
//   - BEGIN IMMEDIATE, taken by the store itself on one pooled connection
//     (no database/sql transaction, whose context watcher costs a goroutine
//     per transaction);
//   - LockAndLoad of one account: one SELECT of the account, its open lots
//     and the call of its key (an INSERT first when it may create it);
//   - Apply: one INSERT of entries, one of lots, one statement debiting
//     the lots and one updating the accounts, each only if the batch has
//     rows of that kind; a failure dooms the transaction (Store.Tx then
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
// of the connection pool (sqliteWriters, a channel of one slot, taken with
// the caller's context): with one connection (Open) it keeps waiting
// writers off database/sql's connection queue, and with a host's pool of
// several connections (New) it keeps two of our writers from meeting as
// SQLITE_BUSY. Readers do not take it. Another process writing the same
// file can still make BEGIN IMMEDIATE or COMMIT busy: Store.Tx retries
// those like any busy database.

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
	// BEGIN, COMMIT and ROLLBACK go through bun, so that the database's
	// query hooks see them as they see a bun transaction's.
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
		return rollback(err)
	}
	// COMMIT runs under ctx: a context that ends before it is sent (in a
	// query hook, say) fails the call with the context's error, nothing
	// written. When COMMIT fails, whether it committed is read from the
	// connection rather than guessed from the error: the driver reports
	// the context's error for a statement during which the context ended,
	// even one that completed, and an interrupted COMMIT leaves the
	// transaction open. So ROLLBACK tells: it succeeds when COMMIT did not
	// happen (the error is returned), and finds no transaction when it
	// did (the call succeeded).
	_, cerr := conn.ExecContext(ctx, "COMMIT")
	if cerr == nil {
		return nil
	}
	if _, rerr := conn.ExecContext(bg, "ROLLBACK"); rerr != nil {
		if ctx.Err() != nil && errors.Is(cerr, ctx.Err()) && strings.Contains(rerr.Error(), "no transaction is active") {
			return nil // committed while the context ended
		}
		broken = true
		return fmt.Errorf("bunstore: commit: %w (and ROLLBACK failed: %w)", cerr, rerr)
	}
	return cerr
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
		_, err = t.execRows(ctx, len(ids), func(j *sqlValues, i int) {
			j.str(ids[i])
			j.int(created)
		}, func(col func(int) string, values string) string {
			return "INSERT INTO creditledger_accounts (id, created_at) SELECT " + colList(col, 2) + " FROM (" + values +
				") WHERE true ON CONFLICT (id) DO NOTHING"
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

// The arms of the one-statement LockAndLoad (sqliteLockAndLoad): each row
// is a kind and nine values, whose meaning the kind gives (see
// scanSQLiteLockAndLoad). Only the arms a call needs are in its statement
// (the store's driver compiles each statement anyway, so a text that
// varies costs nothing, while every column costs its compilation).
const (
	sqliteAccountArm = "SELECT 'account', " + sqliteAccountCols + " FROM creditledger_accounts WHERE id = ?"
	sqliteLotArm     = "SELECT 'lot', id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at " +
		"FROM creditledger_lots WHERE account_id = ? AND remaining > 0"
	sqliteCallArm = "SELECT 'call', operation_id, account_id, idempotency_key, kind, param_hash, available, seq, created_at, NULL " +
		"FROM creditledger_entries WHERE account_id = ? AND idempotency_key = ?"
)

// LockAndLoad is LockAccounts then Load. For one account whose lots and
// at most one key it loads (every Grant and Consume), the reads are one
// statement, after the INSERT that creates the account with create.
func (t *sqliteTx) LockAndLoad(ctx context.Context, ids []string, create bool, now time.Time, q storage.LoadQuery) ([]storage.Account, *storage.Loaded, error) {
	ids = uniqueSorted(ids)
	lotsOf := uniqueSorted(q.LotsOf)
	keys := uniqueKeys(q.Keys)
	single := len(ids) == 1 && len(keys) <= 1 && !loadsHolds(q) &&
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
	query, args := sqliteAccountArm, []any{id}
	if len(lotsOf) == 1 {
		query += " UNION ALL " + sqliteLotArm
		args = append(args, id)
	}
	if len(keys) == 1 {
		query += " UNION ALL " + sqliteCallArm
		args = append(args, id, keys[0].Key)
	}
	accounts, loaded, err := t.scanLockAndLoad(ctx, query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("bunstore: locking and loading accounts: %w", err)
	}
	return accounts, loaded, nil
}

// scanLockAndLoad runs a LockAndLoad statement and reads its rows.
func (t *sqliteTx) scanLockAndLoad(ctx context.Context, query string, args ...any) ([]storage.Account, *storage.Loaded, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = rows.Close() }()
	var accounts []storage.Account
	loaded := &storage.Loaded{}
	var v [10]any
	dest := make([]any, len(v))
	for i := range v {
		dest[i] = &v[i]
	}
	var c sqliteCols
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		switch kind, _ := v[0].(string); kind {
		case "account":
			// id, plan, anchor, balance, seq, head_hash, created_at,
			// next_grant_at, next_expiry_at
			accounts = append(accounts, storage.Account{
				ID: c.str(v[1]), Plan: c.str(v[2]), Anchor: c.time(v[3]), Balance: c.int(v[4]), Seq: c.int(v[5]),
				HeadHash: c.blob(v[6]), CreatedAt: c.time(v[7]), NextGrantAt: c.nullTime(v[8]), NextExpiryAt: c.nullTime(v[9]),
			})
		case "lot":
			// id, account_id, operation_id, source, amount, remaining,
			// priority, expires_at, created_at
			loaded.Lots = append(loaded.Lots, storage.Lot{
				ID: c.str(v[1]), Account: c.str(v[2]), OperationID: c.str(v[3]), Source: c.str(v[4]),
				Amount: c.int(v[5]), Remaining: c.int(v[6]), Priority: int(c.int(v[7])),
				ExpiresAt: c.nullTime(v[8]), CreatedAt: c.time(v[9]),
			})
		case "call":
			// operation_id, account_id, idempotency_key, kind,
			// param_hash, available, seq, created_at, NULL
			loaded.Operations = append(loaded.Operations, storage.Operation{
				ID: c.str(v[1]), Account: c.str(v[2]), Key: c.str(v[3]), Kind: storage.EntryKind(c.str(v[4])),
				Hash: c.str(v[5]), Available: c.int(v[6]), Seq: c.int(v[7]), CreatedAt: c.time(v[8]),
			})
		default:
			return nil, nil, fmt.Errorf("row of unknown kind %v", v[0])
		}
		if c.err != nil {
			return nil, nil, c.err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return accounts, loaded, rows.Close()
}

// sqliteCols converts the values of a row scanned into any: the first
// error is kept in err.
type sqliteCols struct{ err error }

func (c *sqliteCols) fail(want string, v any) {
	if c.err == nil {
		c.err = fmt.Errorf("bunstore: cannot read %T as %s", v, want)
	}
}

func (c *sqliteCols) str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	}
	c.fail("text", v)
	return ""
}

func (c *sqliteCols) int(v any) int64 {
	switch v := v.(type) {
	case nil:
		return 0
	case int64:
		return v
	}
	c.fail("an integer", v)
	return 0
}

func (c *sqliteCols) blob(v any) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		return v
	}
	c.fail("a blob", v)
	return nil
}

func (c *sqliteCols) nullTime(v any) *time.Time {
	var tc timeCol
	if err := tc.Scan(v); err != nil && c.err == nil {
		c.err = err
	}
	return tc.ptr()
}

func (c *sqliteCols) time(v any) time.Time {
	if t := c.nullTime(v); t != nil {
		return *t
	}
	return time.Time{}
}

// ClaimAccounts returns up to q.Limit accounts with ID > q.After, by ID,
// that are due at q.Now (see storage.ClaimQuery). The transaction holds
// the database: nothing is locked by another, and q.Wait changes nothing.
// It walks creditledger_accounts_due_idx (schema 5), which holds the due
// times next to the ID, and reads the rows of the accounts it returns only
// (SQLite's planner would walk the primary key and read every row).
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
		"SELECT "+sqliteAccountCols+" FROM creditledger_accounts INDEXED BY creditledger_accounts_due_idx "+
			"WHERE id > ? AND "+due+" ORDER BY id LIMIT ?", args...)
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
			for _, k := range keys {
				j.row()
				j.str(k.Account)
				j.str(k.Key)
			}
			ops, err = queryAll(ctx, t, scanCall, j.statement(func(col func(int) string, values string) string {
				return "SELECT e.operation_id, e.idempotency_key, e.kind, e.account_id, e.param_hash, e.available, e.seq, e.created_at " +
					"FROM (" + values + ") AS k CROSS JOIN creditledger_entries AS e " +
					"WHERE e.account_id = " + col(0) + " AND e.idempotency_key = " + col(1)
			}))
		}
		if err != nil {
			return nil, fmt.Errorf("bunstore: loading calls by key: %w", err)
		}
		out.Operations = ops
	}
	if loadsHolds(q) {
		if err := t.legacy().loadHolds(ctx, q, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadsHolds reports whether q asks for what holds and reversals read:
// holds, lots by id, or an operation's entries.
func loadsHolds(q storage.LoadQuery) bool {
	return len(q.HoldsOf) > 0 || len(q.Holds) > 0 || len(q.Lots) > 0 || len(q.Refs) > 0
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
