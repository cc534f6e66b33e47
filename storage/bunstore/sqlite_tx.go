package bunstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
//     the lots, one updating the accounts, one INSERT of holds and one
//     statement ending holds, each only if the batch has rows of that
//     kind; a failure dooms the transaction (Store.Tx then rolls it back
//     and returns the error) instead of costing a savepoint per batch;
//   - COMMIT.
//
// Every statement goes through bun (the connection is a bun.Conn), so
// bun's query hooks see each one, and is complete SQL text with no
// arguments, which bun's formatter passes on as it is.
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

// sqliteTx is a storage.Tx on SQLite.
type sqliteTx struct {
	s *Store
	// db is the transaction's connection (a bun.Conn), or the savepoint
	// of a host's transaction (a bun.Tx): every statement goes through
	// bun, so its query hooks see them. Statements are complete SQL text
	// (values written as literals, see sqlValues), with no arguments for
	// bun's formatter, which leaves such a text as it is.
	db bun.IConn
	// failed is the error of an Apply that may have written part of its
	// batch: the transaction must not commit.
	failed error
}

var _ storage.Tx = (*sqliteTx)(nil)

// Load reads q (see load).
func (t *sqliteTx) Load(ctx context.Context, q storage.LoadQuery) (*storage.Loaded, error) {
	return load(ctx, t, q)
}

// calls implements loader: one statement joining the keys, as the rows
// of a VALUES, to the entries.
func (t *sqliteTx) calls(ctx context.Context, keys []storage.AccountKey) ([]storage.Operation, error) {
	var j sqlValues
	for _, k := range keys {
		if err := checkTexts("idempotency key", k.Account, k.Key); err != nil {
			return nil, err
		}
		j.row()
		j.str(k.Account)
		j.str(k.Key)
	}
	return queryAll(ctx, t, scanCall, j.statement(func(col func(int) string, values string) string {
		return "SELECT " + callColumns.list("e.") + " FROM (" + values + ") AS k CROSS JOIN creditledger_entries AS e " +
			"WHERE e.account_id = " + col(0) + " AND e.idempotency_key = " + col(1)
	}))
}

// execN runs a statement and returns how many rows it changed.
func (t *sqliteTx) execN(ctx context.Context, query string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	res, err := t.db.ExecContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// exec runs a statement without arguments (Init's scale record goes
// through it).
func (t *sqliteTx) exec(ctx context.Context, query string, args ...any) error {
	if len(args) > 0 {
		return errArguments
	}
	_, err := t.execN(ctx, query)
	return err
}

// query runs a query without arguments (queryer).
func (t *sqliteTx) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	if len(args) > 0 {
		return nil, errArguments
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return t.db.QueryContext(context.WithoutCancel(ctx), query)
}

// errArguments is the error of a SQLite statement given arguments: a
// mistake in this package, as bun would format them into a text that may
// hold literals with a "?".
var errArguments = errors.New("bunstore: a SQLite statement of a transaction takes no arguments")

// in implements loader: "col IN ('a', 'b')".
func (t *sqliteTx) in(col string, values []string) (string, []any, error) {
	list, err := sqlStrings(col, values)
	return col + " IN " + list, nil, err
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
	t := &sqliteTx{s: s, db: conn}
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

// LockAccounts returns the accounts of ids that exist, by ID, creating the
// missing ones first with create (one INSERT ... RETURNING then). The
// transaction already holds the database (BEGIN IMMEDIATE): no row lock
// is needed.
func (t *sqliteTx) LockAccounts(ctx context.Context, ids []string, create bool, now time.Time) ([]storage.Account, error) {
	ids = uniqueSorted(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := sqlStrings("account id", ids)
	if err != nil {
		return nil, err
	}
	var accounts []storage.Account
	if create {
		accounts, err = t.createAccounts(ctx, ids, list, now)
	} else {
		accounts, err = queryAll(ctx, t, scanAccount,
			"SELECT "+accountCols+" FROM creditledger_accounts WHERE id IN "+list+" ORDER BY id")
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
func (t *sqliteTx) createAccounts(ctx context.Context, ids []string, list string, now time.Time) ([]storage.Account, error) {
	upsert := " ON CONFLICT (id) DO UPDATE SET plan = creditledger_accounts.plan RETURNING " + accountCols
	created := strconv.FormatInt(micros(now), 10)
	var accounts []storage.Account
	var err error
	if len(ids) == 1 {
		accounts, err = queryAll(ctx, t, scanAccount,
			"INSERT INTO creditledger_accounts (id, created_at) VALUES ("+string(appendSQLString(nil, ids[0]))+", "+created+")"+upsert)
	} else {
		_, err = t.execN(ctx, "INSERT INTO creditledger_accounts (id, created_at) SELECT column1, "+created+
			" FROM (VALUES "+sqlRows(ids)+") WHERE true ON CONFLICT (id) DO NOTHING")
		if err == nil {
			accounts, err = queryAll(ctx, t, scanAccount,
				"SELECT "+accountCols+" FROM creditledger_accounts WHERE id IN "+list+" ORDER BY id")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bunstore: creating accounts: %w", err)
	}
	sortAccounts(accounts)
	return accounts, nil
}

// The arms of the one-statement LockAndLoad (sqliteLockAndLoad): each row
// is a kind and sqliteArmWidth values (NULLs pad the narrower arms), whose
// meaning the kind gives (see
// scanSQLiteLockAndLoad). Only the arms a call needs are in its statement
// (the store's driver compiles each statement anyway, so a text that
// varies costs nothing, while every column costs its compilation).
// Each arm ends with its condition's first value, to be followed by its
// literal.
var (
	sqliteAccountArm = "SELECT 'account', " + accountCols + sqlitePad(len(accountColumns)) + " FROM creditledger_accounts WHERE id = "
	sqliteLotArm     = " UNION ALL SELECT 'lot', " + lotCols + sqlitePad(len(lotColumns)) + " FROM creditledger_lots WHERE remaining <> 0 AND account_id = "
	sqliteCallArm    = " UNION ALL SELECT 'call', " + callCols + sqlitePad(len(callColumns)) + " FROM creditledger_entries WHERE account_id = "
)

// sqliteArmWidth is the widest arm's number of columns after its kind.
var sqliteArmWidth = max(len(accountColumns), len(lotColumns), len(callColumns))

// sqlitePad is the NULLs that widen an arm of n columns to sqliteArmWidth
// (UNION ALL wants arms of one width).
func sqlitePad(n int) string {
	return strings.Repeat(", NULL", sqliteArmWidth-n)
}

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
		return lockThenLoad(ctx, t, ids, create, now, q)
	}
	id, err := sqlString("account id", ids[0])
	if err != nil {
		return nil, nil, err
	}
	if create {
		if _, err := t.execN(ctx, "INSERT INTO creditledger_accounts (id, created_at) VALUES ("+id+", "+
			strconv.FormatInt(micros(now), 10)+") ON CONFLICT (id) DO NOTHING"); err != nil {
			return nil, nil, fmt.Errorf("bunstore: creating accounts: %w", err)
		}
	}
	query := sqliteAccountArm + id
	if len(lotsOf) == 1 {
		query += sqliteLotArm + id
	}
	if len(keys) == 1 {
		key, err := sqlString("idempotency key", keys[0].Key)
		if err != nil {
			return nil, nil, err
		}
		query += sqliteCallArm + id + " AND idempotency_key = " + key
	}
	accounts, loaded, err := t.scanLockAndLoad(ctx, query)
	if err != nil {
		return nil, nil, fmt.Errorf("bunstore: locking and loading accounts: %w", err)
	}
	return accounts, loaded, nil
}

// scanLockAndLoad runs a LockAndLoad statement and reads its rows: each
// row's first column says which table's columns follow (see the arms).
func (t *sqliteTx) scanLockAndLoad(ctx context.Context, query string) ([]storage.Account, *storage.Loaded, error) {
	rows, err := t.query(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = rows.Close() }()
	var accounts []storage.Account
	loaded := &storage.Loaded{}
	v := make(anyRow, 1+sqliteArmWidth)
	dest := make([]any, len(v))
	for i := range v {
		dest[i] = &v[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		switch kind, _ := v[0].(string); kind {
		case "account":
			a, err := scanAccount(v[1:])
			if err != nil {
				return nil, nil, err
			}
			accounts = append(accounts, a)
		case "lot":
			l, err := scanLot(v[1:])
			if err != nil {
				return nil, nil, err
			}
			loaded.Lots = append(loaded.Lots, l)
		case "call":
			o, err := scanCall(v[1:])
			if err != nil {
				return nil, nil, err
			}
			loaded.Operations = append(loaded.Operations, o)
		default:
			return nil, nil, fmt.Errorf("row of unknown kind %v", v[0])
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return accounts, loaded, rows.Close()
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
	after, err := sqlString("claim cursor", q.After)
	if err != nil {
		return nil, err
	}
	now := strconv.FormatInt(micros(q.Now), 10)
	var due string
	switch {
	case q.Grants && q.Expiry:
		due = "(next_grant_at <= " + now + " OR next_expiry_at <= " + now + ")"
	case q.Grants:
		due = "next_grant_at <= " + now
	default:
		due = "next_expiry_at <= " + now
	}
	accounts, err := queryAll(ctx, t, scanAccount,
		"SELECT "+accountCols+" FROM creditledger_accounts INDEXED BY creditledger_accounts_due_idx "+
			"WHERE id > "+after+" AND "+due+" ORDER BY id LIMIT "+strconv.Itoa(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("bunstore: claiming accounts: %w", err)
	}
	return accounts, nil
}

// loadsHolds reports whether q asks for what holds and reversals read:
// holds, lots by id, or an operation's entries.
func loadsHolds(q storage.LoadQuery) bool {
	return len(q.HoldsOf) > 0 || len(q.Holds) > 0 || len(q.Lots) > 0 || len(q.Refs) > 0
}

func sortAccounts(accounts []storage.Account) {
	slices.SortFunc(accounts, func(a, b storage.Account) int { return strings.Compare(a.ID, b.ID) })
}

// sqlString returns s as a SQL string literal, or an error wrapping
// storage.ErrInvalidArgument (naming it what) when s fails checkText.
func sqlString(what, s string) (string, error) {
	if err := checkText(what, s); err != nil {
		return "", err
	}
	return string(appendSQLString(nil, s)), nil
}

// sqlStrings returns ss as a parenthesized list of SQL string literals,
// or an error wrapping storage.ErrInvalidArgument (naming them what) when
// one fails checkText.
func sqlStrings(what string, ss []string) (string, error) {
	b := make([]byte, 0, 2+len(ss)*24)
	b = append(b, '(')
	for i, s := range ss {
		if err := checkText(what, s); err != nil {
			return "", err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSQLString(b, s)
	}
	return string(append(b, ')')), nil
}

// sqlRows returns ss as the rows of a VALUES of one column: "('a'),('b')".
// ss are checked (checkText).
func sqlRows(ss []string) string {
	b := make([]byte, 0, len(ss)*26)
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '(')
		b = appendSQLString(b, s)
		b = append(b, ')')
	}
	return string(b)
}
