package bunstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// The SQLite statements of Apply: for each kind of write, one statement
// for a single row (its values bound) and one for any number of rows (one
// JSON array of rows, read through json_each; BLOBs as hex). The column
// lists are those of the tables; a column added to a table is added to
// both statements and to the row (sqliteEntryRow and the like).
const (
	sqliteLotColumns = "id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at"

	sqliteInsertLot  = "INSERT INTO creditledger_lots (" + sqliteLotColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	sqliteInsertLots = "INSERT INTO creditledger_lots (" + sqliteLotColumns + ") " +
		"SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8 FROM json_each(?)"

	sqliteEntryColumns = "id, account_id, seq, operation_id, lot_id, kind, amount, balance_after, source, description, metadata, created_at, " +
		"expires_at, idempotency_key, param_hash, available, hash"

	sqliteInsertEntry   = "INSERT INTO creditledger_entries (" + sqliteEntryColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	sqliteInsertEntries = "INSERT INTO creditledger_entries (" + sqliteEntryColumns + ") " +
		"SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, value->>9, " +
		"value->>10, value->>11, value->>12, value->>13, value->>14, value->>15, unhex(value->>16) FROM json_each(?)"

	sqliteDebitLot  = "UPDATE creditledger_lots SET remaining = remaining - ? WHERE account_id = ? AND id = ?"
	sqliteDebitLots = "UPDATE creditledger_lots SET remaining = creditledger_lots.remaining - d.amount " +
		"FROM (SELECT value->>0 AS account_id, value->>1 AS id, value->>2 AS amount FROM json_each(?)) AS d " +
		"WHERE creditledger_lots.account_id = d.account_id AND creditledger_lots.id = d.id"

	sqliteUpdateAccount = "UPDATE creditledger_accounts SET balance = ?, seq = ?, head_hash = coalesce(?, head_hash), " +
		"next_grant_at = ?, next_expiry_at = ?, plan = CASE WHEN ? THEN ? ELSE plan END, anchor = CASE WHEN ? THEN ? ELSE anchor END " +
		"WHERE id = ?"
	sqliteUpdateAccounts = "UPDATE creditledger_accounts SET balance = u.balance, seq = u.seq, " +
		"head_hash = coalesce(u.head_hash, creditledger_accounts.head_hash), " +
		"next_grant_at = u.next_grant_at, next_expiry_at = u.next_expiry_at, " +
		"plan = CASE WHEN u.set_plan THEN u.plan ELSE creditledger_accounts.plan END, " +
		"anchor = CASE WHEN u.set_plan THEN u.anchor ELSE creditledger_accounts.anchor END " +
		"FROM (SELECT value->>0 AS id, value->>1 AS balance, value->>2 AS seq, unhex(value->>3) AS head_hash, " +
		"value->>4 AS next_grant_at, value->>5 AS next_expiry_at, value->>6 AS set_plan, value->>7 AS plan, value->>8 AS anchor " +
		"FROM json_each(?)) AS u WHERE creditledger_accounts.id = u.id"
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
	return nil
}

func (t *sqliteTx) insertEntries(ctx context.Context, w *writes) error {
	if len(w.entries) == 1 {
		e := &w.entries[0]
		_, err := t.execN(ctx, sqliteInsertEntry, e.ID, e.Account, e.Seq, e.OperationID, nullString(e.LotID), string(e.Kind),
			e.Amount, e.BalanceAfter, e.Source, e.Description, nullString(w.metadata[0]), micros(e.CreatedAt),
			nullMicros(e.ExpiresAt), nullString(e.Key), nullString(e.ParamHash), entryAvailable(e), e.Hash)
		return err
	}
	var j jsonRows
	for i := range w.entries {
		e := &w.entries[i]
		j.row()
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
		j.hex(e.Hash)
	}
	_, err := t.execN(ctx, sqliteInsertEntries, j.String())
	return err
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
	if len(lots) == 1 {
		l := &lots[0]
		_, err := t.execN(ctx, sqliteInsertLot, l.ID, l.Account, l.OperationID, l.Source, l.Amount, l.Remaining,
			int64(l.Priority), nullMicros(l.ExpiresAt), micros(l.CreatedAt))
		return err
	}
	var j jsonRows
	for i := range lots {
		l := &lots[i]
		j.row()
		j.str(l.ID)
		j.str(l.Account)
		j.str(l.OperationID)
		j.str(l.Source)
		j.int(l.Amount)
		j.int(l.Remaining)
		j.int(int64(l.Priority))
		j.nullTime(l.ExpiresAt)
		j.time(l.CreatedAt)
	}
	_, err := t.execN(ctx, sqliteInsertLots, j.String())
	return err
}

func (t *sqliteTx) debitLots(ctx context.Context, debits []storage.LotDebit) (int, error) {
	if len(debits) == 1 {
		d := &debits[0]
		n, err := t.execN(ctx, sqliteDebitLot, d.Amount, d.Account, d.LotID)
		return int(n), err
	}
	var j jsonRows
	for _, d := range debits {
		j.row()
		j.str(d.Account)
		j.str(d.LotID)
		j.int(d.Amount)
	}
	n, err := t.execN(ctx, sqliteDebitLots, j.String())
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
		u := &updates[0]
		var head any
		if len(u.HeadHash) > 0 {
			head = u.HeadHash
		}
		n, err := t.execN(ctx, sqliteUpdateAccount, u.Balance, u.Seq, head, nullMicros(u.NextGrantAt), nullMicros(u.NextExpiryAt),
			u.SetPlan, u.Plan, u.SetPlan, nullMicros(anchor(u)), u.ID)
		return int(n), err
	}
	var j jsonRows
	for i := range updates {
		u := &updates[i]
		j.row()
		j.str(u.ID)
		j.int(u.Balance)
		j.int(u.Seq)
		j.hex(u.HeadHash)
		j.nullTime(u.NextGrantAt)
		j.nullTime(u.NextExpiryAt)
		if u.SetPlan {
			j.int(1)
		} else {
			j.int(0)
		}
		j.str(u.Plan)
		j.nullTime(anchor(u))
	}
	n, err := t.execN(ctx, sqliteUpdateAccounts, j.String())
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

// jsonRows builds a JSON array of rows, each an array of values, for
// json_each.
type jsonRows struct {
	b          []byte
	rows, cols int
}

// row starts a row.
func (j *jsonRows) row() {
	if j.rows == 0 {
		j.b = append(j.b, "[["...)
	} else {
		j.b = append(j.b, "],["...)
	}
	j.rows++
	j.cols = 0
}

func (j *jsonRows) sep() {
	if j.cols > 0 {
		j.b = append(j.b, ',')
	}
	j.cols++
}

func (j *jsonRows) null() { j.sep(); j.b = append(j.b, "null"...) }

func (j *jsonRows) str(s string) { j.sep(); j.b = appendJSONString(j.b, s) }

// nullStr adds "" as null.
func (j *jsonRows) nullStr(s string) {
	if s == "" {
		j.null()
		return
	}
	j.str(s)
}

func (j *jsonRows) int(n int64) { j.sep(); j.b = strconv.AppendInt(j.b, n, 10) }

func (j *jsonRows) time(t time.Time) { j.int(micros(t)) }

// nullTime adds nil as null.
func (j *jsonRows) nullTime(t *time.Time) {
	if t == nil {
		j.null()
		return
	}
	j.time(*t)
}

// hex adds b as a hex string (unhex in SQL makes it a BLOB again), or
// null when b is empty.
func (j *jsonRows) hex(b []byte) {
	if len(b) == 0 {
		j.null()
		return
	}
	j.sep()
	j.b = append(j.b, '"')
	j.b = hex.AppendEncode(j.b, b)
	j.b = append(j.b, '"')
}

// String returns the array.
func (j *jsonRows) String() string {
	if j.rows == 0 {
		return "[]"
	}
	return string(j.b) + "]]"
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 without
// NUL bytes (checkText): only quotes, backslashes and control characters
// are escaped.
func appendJSONString(b []byte, s string) []byte {
	const digits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', digits[c>>4], digits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
