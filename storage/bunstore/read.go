package bunstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/creditledger/creditledger/storage"
)

// rowScanner is a row of *sql.Rows or pgx.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// rowsIter is *sql.Rows, or pgx.Rows seen the same way (see pgxRows).
type rowsIter interface {
	rowScanner
	Next() bool
	Err() error
	Close() error
}

// queryer runs a query: a bun.IConn (iconn) or a tx, which may run it on
// its own pgx connection.
type queryer interface {
	query(ctx context.Context, query string, args ...any) (rowsIter, error)
}

// iconn is a bun.IConn as a queryer.
type iconn struct{ bun.IConn }

func (c iconn) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	return c.QueryContext(ctx, query, args...)
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q queryer, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []T
	if err := scanEach(rows, scan, func(v T) { out = append(out, v) }); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// scanEach hands each of rows, as scan makes it, to keep.
func scanEach[T any](rows rowsIter, scan func(rowScanner) (T, error), keep func(T)) error {
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		keep(v)
	}
	return rows.Err()
}

// Account returns the account id, or an error wrapping storage.ErrNotFound.
func (s *Store) Account(ctx context.Context, id string) (*storage.Account, error) {
	accounts, err := queryAll(ctx, iconn{s.reader()}, scanAccount,
		"SELECT "+accountCols+" FROM creditledger_accounts WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("bunstore: account %q: %w", id, err)
	}
	if len(accounts) == 0 {
		return nil, fmt.Errorf("bunstore: account %q: %w", id, storage.ErrNotFound)
	}
	return &accounts[0], nil
}

// Lots returns lots of q.Account by ID: all of them, or with q.OnlyOpen
// those with remaining > 0 that are not expired at q.Now (q.Now zero:
// expired ones too) and open debt lots (remaining < 0). An unknown
// account has no lots.
func (s *Store) Lots(ctx context.Context, q storage.LotQuery) ([]storage.Lot, error) {
	where := "account_id = ?"
	args := []any{q.Account}
	if q.OnlyOpen {
		if q.Now.IsZero() {
			where += " AND remaining <> 0"
		} else {
			where += " AND (remaining < 0 OR remaining > 0 AND " + s.notExpired("expires_at") + ")"
			args = append(args, s.timeArg(q.Now))
		}
	}
	lots, err := queryAll(ctx, iconn{s.reader()}, scanLot,
		"SELECT "+lotCols+" FROM creditledger_lots WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: lots of %q: %w", q.Account, err)
	}
	return lots, nil
}

// notExpired returns the condition "col is NULL (never) or after ?", as an
// expression no index matches: otherwise, before statistics are fresh
// (right after a distribution wrote a lot per account), the planner may
// AND the account's index with a scan of every open lot's expiry in
// creditledger_lots_expires_at_idx, which costs milliseconds per read on a
// large table instead of microseconds.
func (s *Store) notExpired(col string) string {
	if s.kind == postgres {
		return "coalesce(" + col + ", 'infinity'::timestamptz) > ?"
	}
	return "coalesce(" + col + ", 9223372036854775807) > ?"
}

// AccountWithOpenLots returns the account id and its lots with remaining >
// 0 that are not expired at now and its open debt lots (remaining < 0),
// by ID, in one query, so that
// Ledger.Balance costs one round trip. An
// unknown account is an error wrapping storage.ErrNotFound.
// accountAndLotCols are the columns of AccountWithOpenLots.
var accountAndLotCols = accountColumns.list("a.") + ", " + lotColumns.list("l.")

func (s *Store) AccountWithOpenLots(ctx context.Context, id string, now time.Time) (*storage.Account, []storage.Lot, error) {
	query := "SELECT " + accountAndLotCols + " FROM creditledger_accounts AS a LEFT JOIN creditledger_lots AS l " +
		"ON l.account_id = a.id AND (l.remaining < 0 OR l.remaining > 0 AND " + s.notExpired("l.expires_at") +
		") WHERE a.id = ? ORDER BY l.id"
	rows, err := s.reader().QueryContext(ctx, query, s.timeArg(now), id)
	if err != nil {
		return nil, nil, fmt.Errorf("bunstore: account %q and its lots: %w", id, err)
	}
	defer rows.Close()
	var acct *storage.Account
	var lots []storage.Lot
	dest := make([]any, len(accountColumns)+len(lotColumns))
	for rows.Next() {
		// The lot's columns are NULL (read as zero values) when the
		// account has no open lot.
		var a storage.Account
		var l storage.Lot
		for i, c := range accountColumns {
			dest[i] = c.scan(&a)
		}
		for i, c := range lotColumns {
			dest[len(accountColumns)+i] = c.scan(&l)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, fmt.Errorf("bunstore: account %q and its lots: %w", id, err)
		}
		if acct == nil {
			acct = &a
		}
		if l.ID != "" {
			lots = append(lots, l)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("bunstore: account %q and its lots: %w", id, err)
	}
	if acct == nil {
		return nil, nil, fmt.Errorf("bunstore: account %q: %w", id, storage.ErrNotFound)
	}
	return acct, lots, nil
}

// Entries returns entries of q.Account by descending Seq, those with Seq <
// q.BeforeSeq when it is > 0, of pool *q.Pool when q.Pool is not nil, at
// most q.Limit (none when q.Limit <= 0).
func (s *Store) Entries(ctx context.Context, q storage.EntryQuery) ([]storage.Entry, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	query := "SELECT " + entryCols + " FROM creditledger_entries WHERE account_id = ?"
	args := []any{q.Account}
	if q.BeforeSeq > 0 {
		query += " AND seq < ?"
		args = append(args, q.BeforeSeq)
	}
	if q.Pool != nil {
		query += " AND pool = ?"
		args = append(args, *q.Pool)
	}
	query += " ORDER BY seq DESC LIMIT ?"
	args = append(args, q.Limit)
	entries, err := queryAll(ctx, iconn{s.reader()}, scanEntry, query, args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: entries of %q: %w", q.Account, err)
	}
	return entries, nil
}

// OperationEntries returns the entries operationID wrote to account, by
// ascending Seq; none if there are none.
func (s *Store) OperationEntries(ctx context.Context, account, operationID string) ([]storage.Entry, error) {
	entries, err := queryAll(ctx, iconn{s.reader()}, scanEntry,
		"SELECT "+entryCols+" FROM creditledger_entries WHERE account_id = ? AND operation_id = ? ORDER BY seq",
		account, operationID)
	if err != nil {
		return nil, fmt.Errorf("bunstore: entries of operation %q: %w", operationID, err)
	}
	return entries, nil
}

// Scan returns at most limit accounts (none when limit <= 0) with ID >
// after, in ID order, each with all its lots (by ID) and entries (by
// ascending Seq). It reads in three queries from one snapshot (a
// read-only REPEATABLE READ transaction on PostgreSQL), so a concurrent
// write never shows half done.
func (s *Store) Scan(ctx context.Context, after string, limit int) ([]storage.AccountDump, error) {
	if limit <= 0 {
		return nil, nil
	}
	var dumps []storage.AccountDump
	read := func(ctx context.Context, idb bun.IDB) error {
		dumps = nil
		accounts, err := queryAll(ctx, iconn{idb}, scanAccount,
			"SELECT "+accountCols+" FROM creditledger_accounts WHERE id > ? ORDER BY id LIMIT ?", after, limit)
		if err != nil || len(accounts) == 0 {
			return err
		}
		ids := make([]string, len(accounts))
		byID := make(map[string]storage.Account, len(accounts))
		for i, a := range accounts {
			ids[i] = a.ID
			byID[a.ID] = a
		}
		dumps, err = s.dumps(ctx, idb, ids, func(id string) storage.AccountDump {
			return storage.AccountDump{Account: byID[id]}
		})
		return err
	}
	if err := s.readTx(ctx, read); err != nil {
		return nil, fmt.Errorf("bunstore: scan after %q: %w", after, err)
	}
	return dumps, nil
}

// Orphans returns, for at most limit account ids that have lots or entries
// but no row in creditledger_accounts, their lots and entries (with
// Missing set): the traces of a deleted account row, for Verify. It reads
// from one snapshot, with one anti-join over each table.
func (s *Store) Orphans(ctx context.Context, limit int) ([]storage.AccountDump, error) {
	if limit <= 0 {
		return nil, nil
	}
	var dumps []storage.AccountDump
	read := func(ctx context.Context, idb bun.IDB) error {
		dumps = nil
		ids, err := queryAll(ctx, iconn{idb}, func(r rowScanner) (id string, err error) { return id, r.Scan(&id) },
			`SELECT account_id FROM (
	SELECT DISTINCT l.account_id FROM creditledger_lots AS l
	WHERE NOT EXISTS (SELECT 1 FROM creditledger_accounts AS a WHERE a.id = l.account_id)
	UNION
	SELECT DISTINCT e.account_id FROM creditledger_entries AS e
	WHERE NOT EXISTS (SELECT 1 FROM creditledger_accounts AS a WHERE a.id = e.account_id)
) AS o ORDER BY account_id LIMIT ?`, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		dumps, err = s.dumps(ctx, idb, ids, func(id string) storage.AccountDump {
			return storage.AccountDump{Account: storage.Account{ID: id}, Missing: true}
		})
		return err
	}
	if err := s.readTx(ctx, read); err != nil {
		return nil, fmt.Errorf("bunstore: accounts without a row: %w", err)
	}
	return dumps, nil
}

// dumps reads the lots and entries of ids (sorted) into one dump each,
// made by newDump.
func (s *Store) dumps(ctx context.Context, idb bun.IDB, ids []string, newDump func(id string) storage.AccountDump) ([]storage.AccountDump, error) {
	index := make(map[string]int, len(ids))
	dumps := make([]storage.AccountDump, len(ids))
	for i, id := range ids {
		index[id] = i
		dumps[i] = newDump(id)
	}
	in, arg := s.inList("account_id", ids)
	lots, err := queryAll(ctx, iconn{idb}, scanLot,
		"SELECT "+lotCols+" FROM creditledger_lots WHERE "+in+" ORDER BY account_id, id", arg)
	if err != nil {
		return nil, err
	}
	for _, l := range lots {
		d := &dumps[index[l.Account]]
		d.Lots = append(d.Lots, l)
	}
	entries, err := queryAll(ctx, iconn{idb}, scanEntry,
		"SELECT "+entryCols+" FROM creditledger_entries WHERE "+in+" ORDER BY account_id, seq", arg)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		d := &dumps[index[e.Account]]
		d.Entries = append(d.Entries, e)
	}
	holds, err := queryAll(ctx, iconn{idb}, scanHold,
		"SELECT "+holdCols+" FROM creditledger_holds WHERE "+in+" ORDER BY account_id, created_at, id", arg)
	if err != nil {
		return nil, err
	}
	for _, h := range holds {
		d := &dumps[index[h.Account]]
		d.Holds = append(d.Holds, h)
	}
	return dumps, nil
}

// readTx runs read in a read-only transaction, or in the host's transaction
// for a bound store. It retries like Tx.
func (s *Store) readTx(ctx context.Context, read func(ctx context.Context, idb bun.IDB) error) error {
	if s.bound {
		return read(ctx, s.idb)
	}
	var opts *sql.TxOptions
	if s.kind == postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	return s.retry(ctx, func() error {
		btx, err := s.db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		defer func() { _ = btx.Rollback() }()
		if err := read(ctx, btx); err != nil {
			return err
		}
		return btx.Commit()
	})
}
