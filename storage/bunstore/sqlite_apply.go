package bunstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// The SQLite statements of Apply: one statement per kind of write for
// the rows of a batch (up to sqliteRowsPerStatement), written as SQL
// literals in one multi-row VALUES (see sqlValues for why not bound
// arguments or JSON); a single lot debit or account update binds its few
// arguments instead. A column added to a table is added to its statement
// and to the row built for it (insertEntries and the like).
const (
	sqliteLotColumns = "id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at"

	sqliteEntryColumns = "id, account_id, seq, operation_id, lot_id, kind, amount, balance_after, source, description, metadata, created_at, " +
		"expires_at, idempotency_key, param_hash, available, hash, ref"

	sqliteDebitLot = "UPDATE creditledger_lots SET remaining = remaining - ? WHERE account_id = ? AND id = ?"
)

// Apply writes b with at most one statement per kind of write: entries,
// lots, lot debits, account updates. An error of the first statement
// leaves the database as it was (SQLite undoes a failed statement); an
// error after it dooms the transaction, which Store.Tx then rolls back,
// returning the error even if the function passed to it does not. Errors
// are those of storage.Tx.Apply.
func (t *sqliteTx) Apply(ctx context.Context, b *storage.Batch) error {
	if t.failed != nil {
		return fmt.Errorf("bunstore: apply after a failed apply in the same transaction: %w", t.failed)
	}
	if b == nil || b.Empty() {
		return nil
	}
	w, err := prepare(b)
	if err != nil {
		return err
	}
	wrote := false
	fail := func(err error) error {
		if wrote {
			t.failed = err
		}
		return err
	}
	if len(w.entries) > 0 {
		if err := t.insertEntries(ctx, w); err != nil {
			return fail(applyError(err, b))
		}
		wrote = true
	}
	if len(w.lots) > 0 {
		if err := t.insertLots(ctx, w.lots); err != nil {
			return fail(applyError(err, b))
		}
		wrote = true
	}
	if len(w.debits) > 0 {
		n, err := t.debitLots(ctx, w.debits)
		if err != nil {
			return fail(applyError(err, b))
		}
		wrote = true
		if n != len(w.debits) {
			return fail(fmt.Errorf("bunstore: apply: %w: %d of %d debited lots do not exist",
				storage.ErrNotFound, len(w.debits)-n, len(w.debits)))
		}
	}
	if len(w.accounts) > 0 {
		n, err := t.updateAccounts(ctx, w.accounts)
		if err != nil {
			return fail(applyError(err, b))
		}
		wrote = true
		if n != len(w.accounts) {
			return fail(fmt.Errorf("bunstore: apply: %w: %d of %d updated accounts do not exist",
				storage.ErrNotFound, len(w.accounts)-n, len(w.accounts)))
		}
	}
	if len(w.holds) > 0 || len(w.ended) > 0 {
		// Holds are rare next to entries and lots: they go through the
		// bound-argument statements shared with the schema's other code.
		if err := t.legacy().applyHoldsSQLite(ctx, w); err != nil {
			return fail(applyError(err, b))
		}
	}
	return nil
}

func (t *sqliteTx) insertEntries(ctx context.Context, w *writes) error {
	_, err := t.execRows(ctx, len(w.entries), func(j *sqlValues, i int) {
		e := &w.entries[i]
		j.str(e.ID)
		j.str(e.Account)
		j.int(e.Seq)
		j.str(e.OperationID)
		j.nullStr(e.LotID)
		j.str(string(e.Kind))
		j.int(e.Amount)
		j.int(e.BalanceAfter)
		j.str(e.Source)
		j.str(e.Description)
		j.nullStr(w.metadata[i])
		j.time(e.CreatedAt)
		j.nullTime(e.ExpiresAt)
		j.nullStr(e.Key)
		j.nullStr(e.ParamHash)
		if a := entryAvailable(e); a != nil {
			j.int(e.Available)
		} else {
			j.null()
		}
		j.blob(e.Hash)
		j.nullStr(e.Ref)
	}, func(col func(int) string, values string) string {
		return "INSERT INTO creditledger_entries (" + sqliteEntryColumns + ") SELECT " + colList(col, 18) + " FROM (" + values + ")"
	})
	return err
}

// colList is "col(0), col(1), ..., col(n-1)".
func colList(col func(int) string, n int) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = col(i)
	}
	return strings.Join(cols, ", ")
}

// entryAvailable is the available column of e: NULL on an entry that is
// not a call's first (no key, zero available).
func entryAvailable(e *storage.Entry) any {
	if e.Key != "" || e.Available != 0 {
		return e.Available
	}
	return nil
}

func (t *sqliteTx) insertLots(ctx context.Context, lots []storage.Lot) error {
	_, err := t.execRows(ctx, len(lots), func(j *sqlValues, i int) {
		l := &lots[i]
		j.str(l.ID)
		j.str(l.Account)
		j.str(l.OperationID)
		j.str(l.Source)
		j.int(l.Amount)
		j.int(l.Remaining)
		j.int(int64(l.Priority))
		j.nullTime(l.ExpiresAt)
		j.time(l.CreatedAt)
	}, func(col func(int) string, values string) string {
		return "INSERT INTO creditledger_lots (" + sqliteLotColumns + ") SELECT " + colList(col, 9) + " FROM (" + values + ")"
	})
	return err
}

func (t *sqliteTx) debitLots(ctx context.Context, debits []storage.LotDebit) (int, error) {
	if len(debits) == 1 {
		d := &debits[0]
		n, err := t.execN(ctx, sqliteDebitLot, d.Amount, d.Account, d.LotID)
		return int(n), err
	}
	// The many-row updates are upserts of rows that exist: an INSERT
	// whose SELECT joins the rows given to the rows they update, and whose
	// every row then meets its own in the primary key (DO UPDATE). SQLite
	// runs this at less than half the cost of UPDATE ... FROM over the
	// same VALUES (which copies the VALUES into a subquery and plans it
	// again); a row given that does not exist joins nothing, and the count
	// of changes says so.
	n, err := t.execRows(ctx, len(debits), func(j *sqlValues, i int) {
		j.str(debits[i].Account)
		j.str(debits[i].LotID)
		j.int(debits[i].Amount)
	}, func(col func(int) string, values string) string {
		return "INSERT INTO creditledger_lots (" + sqliteLotColumns + ") " +
			"SELECT l.id, l.account_id, l.operation_id, l.source, l.amount, l.remaining - " + col(2) +
			", l.priority, l.expires_at, l.created_at FROM (" + values + ") AS v " +
			"JOIN creditledger_lots AS l ON l.account_id = " + col(0) + " AND l.id = " + col(1) + " WHERE true " +
			"ON CONFLICT (account_id, id) DO UPDATE SET remaining = excluded.remaining"
	})
	return int(n), err
}

func (t *sqliteTx) updateAccounts(ctx context.Context, updates []storage.AccountUpdate) (int, error) {
	anchor := func(u *storage.AccountUpdate) *time.Time {
		if u.SetPlan && !u.Anchor.IsZero() {
			return &u.Anchor
		}
		return nil
	}
	if len(updates) == 1 {
		// Only the columns the update sets: every column costs its
		// compilation.
		u := &updates[0]
		query := "UPDATE creditledger_accounts SET balance = ?, seq = ?, next_grant_at = ?, next_expiry_at = ?"
		args := append(make([]any, 0, 8), u.Balance, u.Seq, nullMicros(u.NextGrantAt), nullMicros(u.NextExpiryAt))
		if len(u.HeadHash) > 0 {
			query += ", head_hash = ?"
			args = append(args, u.HeadHash)
		}
		if u.SetPlan {
			query += ", plan = ?, anchor = ?"
			args = append(args, u.Plan, nullMicros(anchor(u)))
		}
		n, err := t.execN(ctx, query+" WHERE id = ?", append(args, u.ID)...)
		return int(n), err
	}
	// An upsert of existing rows, as debitLots. The rows: id, balance,
	// seq, head_hash, next_grant_at, next_expiry_at, set_plan, plan,
	// anchor.
	n, err := t.execRows(ctx, len(updates), func(j *sqlValues, i int) {
		u := &updates[i]
		j.str(u.ID)
		j.int(u.Balance)
		j.int(u.Seq)
		j.blob(u.HeadHash)
		j.nullTime(u.NextGrantAt)
		j.nullTime(u.NextExpiryAt)
		if u.SetPlan {
			j.int(1)
		} else {
			j.int(0)
		}
		j.str(u.Plan)
		j.nullTime(anchor(u))
	}, func(col func(int) string, values string) string {
		return "INSERT INTO creditledger_accounts (" + sqliteAccountCols + ") " +
			"SELECT a.id, CASE WHEN " + col(6) + " THEN " + col(7) + " ELSE a.plan END, " +
			"CASE WHEN " + col(6) + " THEN " + col(8) + " ELSE a.anchor END, " +
			col(1) + ", " + col(2) + ", coalesce(" + col(3) + ", a.head_hash), a.created_at, " + col(4) + ", " + col(5) +
			" FROM (" + values + ") AS v JOIN creditledger_accounts AS a ON a.id = " + col(0) + " WHERE true " +
			"ON CONFLICT (id) DO UPDATE SET plan = excluded.plan, anchor = excluded.anchor, balance = excluded.balance, " +
			"seq = excluded.seq, head_hash = excluded.head_hash, next_grant_at = excluded.next_grant_at, next_expiry_at = excluded.next_expiry_at"
	})
	return int(n), err
}

// micros is a time as SQLite stores it: microseconds since the Unix epoch.
func micros(t time.Time) int64 { return utc(t).UnixMicro() }

// nullMicros is micros with nil for NULL.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

// sqliteRowsPerStatement bounds the rows of one multi-row statement
// (twice the distribution's default chunk): a larger batch (SetPlans of
// many accounts) takes one statement per this many rows.
const sqliteRowsPerStatement = 2000

// execRows runs the statements that write n rows, each added by row, in
// statements of at most sqliteRowsPerStatement rows, and returns how many
// rows they changed. statement makes each statement from col, the
// expression of column i of the rows (a literal when every row of the
// statement has the same value there, else the column of the VALUES), and
// values, "VALUES (...), (...)" of the other columns.
func (t *sqliteTx) execRows(ctx context.Context, n int, row func(j *sqlValues, i int),
	statement func(col func(i int) string, values string) string) (int64, error) {
	var total int64
	j := sqlValues{}
	for from := 0; from < n; from += sqliteRowsPerStatement {
		j.reset()
		for i := from; i < min(n, from+sqliteRowsPerStatement); i++ {
			j.row()
			row(&j, i)
		}
		k, err := t.execN(ctx, j.statement(statement))
		if err != nil {
			if from > 0 {
				// This write's earlier statements are in: the
				// transaction cannot be left as it was, so it is doomed
				// (Store.Tx rolls it back) even if the caller carries on.
				t.failed = err
			}
			return total, err
		}
		total += k
	}
	return total, nil
}

// sqlValues collects rows as SQL literals, for one statement over all of
// them.
//
// The store's modernc driver compiles a statement each time it runs it
// (its prepared statements keep only the SQL text), so a fixed text with
// bound arguments saves no compilation, and binding costs a call per
// argument (and a search over the arguments, quadratic in their number).
// Parsing literals is what costs SQLite least: 1,000 entries of 17 columns
// insert in about 15-19 µs a row as literals against 36-44 µs as one JSON
// argument read through json_each (which turns each row's array back into
// text and parses it again). A column whose value is the same in every row
// (a distribution chunk's kind, source, amount, times...) is written once,
// in the statement's SELECT list, instead of once per row. Strings reach
// here checked (checkText: valid UTF-8, no NUL byte) and are quoted by
// doubling single quotes, the only escape in a SQLite string literal;
// BLOBs are X'hex'.
type sqlValues struct {
	b    []byte // every cell's literal, back to back
	ends []int  // where each cell ends in b
	rows int
}

func (j *sqlValues) reset() {
	j.b, j.ends, j.rows = j.b[:0], j.ends[:0], 0
}

// row starts a row.
func (j *sqlValues) row() { j.rows++ }

// cell returns the literal of column c of row r.
func (j *sqlValues) cell(r, c, cols int) []byte {
	k := r*cols + c
	start := 0
	if k > 0 {
		start = j.ends[k-1]
	}
	return j.b[start:j.ends[k]]
}

// statement returns make's statement over the rows (see execRows).
func (j *sqlValues) statement(build func(col func(i int) string, values string) string) string {
	cols := len(j.ends) / j.rows
	// Column 0 always varies, so that VALUES has a column.
	varying := make([]int, cols) // 0: constant, k: the VALUES' column k
	n := 0
	for c := range cols {
		first := j.cell(0, c, cols)
		same := c > 0
		for r := 1; same && r < j.rows; r++ {
			same = string(j.cell(r, c, cols)) == string(first)
		}
		if !same {
			n++
			varying[c] = n
		}
	}
	var sb strings.Builder
	sb.Grow(len(j.b) + 8*len(j.ends))
	sb.WriteString("VALUES ")
	for r := range j.rows {
		if r > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		first := true
		for c := range cols {
			if varying[c] == 0 {
				continue
			}
			if !first {
				sb.WriteByte(',')
			}
			first = false
			sb.Write(j.cell(r, c, cols))
		}
		sb.WriteByte(')')
	}
	return build(func(c int) string {
		if varying[c] == 0 {
			return string(j.cell(0, c, cols))
		}
		return "column" + strconv.Itoa(varying[c])
	}, sb.String())
}

func (j *sqlValues) end() { j.ends = append(j.ends, len(j.b)) }

func (j *sqlValues) null() { j.b = append(j.b, "NULL"...); j.end() }

func (j *sqlValues) str(s string) { j.b = appendSQLString(j.b, s); j.end() }

// nullStr adds "" as NULL.
func (j *sqlValues) nullStr(s string) {
	if s == "" {
		j.null()
		return
	}
	j.str(s)
}

func (j *sqlValues) int(n int64) { j.b = strconv.AppendInt(j.b, n, 10); j.end() }

func (j *sqlValues) time(t time.Time) { j.int(micros(t)) }

// nullTime adds nil as NULL.
func (j *sqlValues) nullTime(t *time.Time) {
	if t == nil {
		j.null()
		return
	}
	j.time(*t)
}

// blob adds b as X'...', or NULL when b is empty.
func (j *sqlValues) blob(b []byte) {
	if len(b) == 0 {
		j.null()
		return
	}
	j.b = append(j.b, 'X', '\'')
	j.b = hex.AppendEncode(j.b, b)
	j.b = append(j.b, '\'')
	j.end()
}

// appendSQLString appends s as a SQLite string literal.
func appendSQLString(b []byte, s string) []byte {
	b = append(b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '\'')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '\'')
}
