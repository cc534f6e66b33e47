package bunstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/creditledger/creditledger/storage"
)

// Apply writes b with at most one statement per kind of write: entries,
// lots, lot debits, account updates, new holds, ended holds, each the
// rows of its kind as the literals of one multi-row VALUES (columns.go
// gives the columns and their values; see sqlValues for why literals). An
// error of the first statement leaves the database as it was (SQLite
// undoes a failed statement); an error after it dooms the transaction,
// which Store.Tx then rolls back, returning the error even if the
// function passed to it does not. Errors are those of storage.Tx.Apply.
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
	// step takes the outcome of one write of the batch, which changed n
	// rows; want >= 0 is how many it must change (rows it names that do
	// not exist: not found). Once a statement has run, an error dooms the
	// transaction (a failed statement itself is undone by SQLite).
	step := func(n int64, err error, want int, what string) error {
		ran := err == nil
		if err != nil {
			err = applyError(err, b)
		} else if want >= 0 && n != int64(want) {
			err = fmt.Errorf("bunstore: apply: %w: %d of %d %s", storage.ErrNotFound, int64(want)-n, want, what)
		}
		wrote = wrote || ran
		if err != nil && wrote {
			t.failed = err
		}
		return err
	}
	if len(w.entries) > 0 {
		n, err := execRows(ctx, t, entryColumns, w.entries, insertInto("creditledger_entries", entryCols, len(entryColumns)))
		if err := step(n, err, -1, ""); err != nil {
			return err
		}
	}
	if len(w.lots) > 0 {
		n, err := execRows(ctx, t, lotColumns, w.lots, insertInto("creditledger_lots", lotCols, len(lotColumns)))
		if err := step(n, err, -1, ""); err != nil {
			return err
		}
	}
	if len(w.debits) > 0 {
		n, err := t.debitLots(ctx, w.debits)
		if err := step(n, err, len(w.debits), "debited lots do not exist"); err != nil {
			return err
		}
	}
	if len(w.expiries) > 0 {
		n, err := execRows(ctx, t, lotExpiryColumns, w.expiries, func(col func(int) string, values string) string {
			return "UPDATE creditledger_lots SET expires_at = " + col(2) + " FROM (" + values + ") AS v WHERE account_id = " + col(0) +
				" AND id = " + col(1)
		})
		if err := step(n, err, len(w.expiries), "lots whose expiry to set do not exist"); err != nil {
			return err
		}
	}
	if len(w.accounts) > 0 {
		n, err := t.updateAccounts(ctx, w.accounts)
		if err := step(n, err, len(w.accounts), "updated accounts do not exist"); err != nil {
			return err
		}
	}
	if len(w.holds) > 0 {
		n, err := execRows(ctx, t, holdColumns, w.holds, insertInto("creditledger_holds", holdCols, len(holdColumns)))
		if err := step(n, err, -1, ""); err != nil {
			return err
		}
	}
	if len(b.Events) > 0 || len(b.Notices) > 0 {
		ran, err := t.insertEvents(ctx, b)
		wrote = wrote || ran
		if err := step(0, err, -1, ""); err != nil {
			return err
		}
	}
	if len(w.ended) > 0 {
		n, err := execRows(ctx, t, holdEndColumns, w.ended, func(col func(int) string, values string) string {
			return "UPDATE creditledger_holds SET state = " + col(2) + ", captured = " + col(3) + ", ended_at = " + col(4) +
				", end_operation_id = " + col(5) + " FROM (" + values + ") AS v WHERE account_id = " + col(0) +
				" AND id = " + col(1) + " AND state = 'active'"
		})
		if err := step(n, err, len(w.ended), "holds to end are not active or do not exist"); err != nil {
			return err
		}
	}
	return nil
}

// insertInto returns the statement of execRows that inserts rows of n
// columns (cols) into table.
func insertInto(table, cols string, n int) func(col func(int) string, values string) string {
	return func(col func(int) string, values string) string {
		return "INSERT INTO " + table + " (" + cols + ") SELECT " + colList(col, n) + " FROM (" + values + ")"
	}
}

// colList is "col(0), col(1), ..., col(n-1)".
func colList(col func(int) string, n int) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = col(i)
	}
	return strings.Join(cols, ", ")
}

// The columns of a debit and an account update, by name.
var (
	debitAccount, debitID, debitAmount = debitColumns.index("account_id"), debitColumns.index("id"), debitColumns.index("amount")

	updateID, updateBalance, updateSeq = accountUpdateColumns.index("id"), accountUpdateColumns.index("balance"),
		accountUpdateColumns.index("seq")
	updateHead, updateNextGrant, updateNextExpiry = accountUpdateColumns.index("head_hash"),
		accountUpdateColumns.index("next_grant_at"), accountUpdateColumns.index("next_expiry_at")
	updateSetPlan, updatePlan, updateAnchor = accountUpdateColumns.index("set_plan"), accountUpdateColumns.index("plan"),
		accountUpdateColumns.index("anchor")
	updateMultiPool = accountUpdateColumns.index("multi_pool")
)

func (t *sqliteTx) debitLots(ctx context.Context, debits []storage.LotDebit) (int64, error) {
	if len(debits) == 1 {
		var j sqlValues
		j.row()
		debitColumns.put(&j, &debits[0])
		return t.execN(ctx, "UPDATE creditledger_lots SET remaining = remaining - "+j.literal(debitAmount)+
			" WHERE account_id = "+j.literal(debitAccount)+" AND id = "+j.literal(debitID))
	}
	// The many-row updates are upserts of rows that exist: an INSERT
	// whose SELECT joins the rows given to the rows they update, and whose
	// every row then meets its own in the primary key (DO UPDATE). SQLite
	// runs this at less than half the cost of UPDATE ... FROM over the
	// same VALUES (which copies the VALUES into a subquery and plans it
	// again); a row given that does not exist joins nothing, and the count
	// of changes says so.
	return execRows(ctx, t, debitColumns, debits, func(col func(int) string, values string) string {
		return "INSERT INTO creditledger_lots (" + lotCols + ") " +
			"SELECT " + strings.Replace(lotColumns.list("l."), "l.remaining", "l.remaining - "+col(debitAmount), 1) +
			" FROM (" + values + ") AS v " +
			"JOIN creditledger_lots AS l ON l.account_id = " + col(debitAccount) + " AND l.id = " + col(debitID) + " WHERE true " +
			"ON CONFLICT (account_id, id) DO UPDATE SET remaining = excluded.remaining"
	})
}

func (t *sqliteTx) updateAccounts(ctx context.Context, updates []storage.AccountUpdate) (int64, error) {
	if len(updates) == 1 {
		// Only the columns the update sets: every column costs its
		// compilation.
		u := &updates[0]
		var j sqlValues
		j.row()
		accountUpdateColumns.put(&j, u)
		query := "UPDATE creditledger_accounts SET balance = " + j.literal(updateBalance) + ", seq = " + j.literal(updateSeq) +
			", next_grant_at = " + j.literal(updateNextGrant) + ", next_expiry_at = " + j.literal(updateNextExpiry)
		if len(u.HeadHash) > 0 {
			query += ", head_hash = " + j.literal(updateHead)
		}
		if u.SetPlan {
			query += ", plan = " + j.literal(updatePlan) + ", anchor = " + j.literal(updateAnchor)
		}
		if u.MultiPool {
			query += ", multi_pool = 1"
		}
		return t.execN(ctx, query+" WHERE id = "+j.literal(updateID))
	}
	// An upsert of existing rows, as debitLots.
	return execRows(ctx, t, accountUpdateColumns, updates, func(col func(int) string, values string) string {
		setPlan := col(updateSetPlan)
		return "INSERT INTO creditledger_accounts (" + accountCols + ") " +
			"SELECT a.id, CASE WHEN " + setPlan + " THEN " + col(updatePlan) + " ELSE a.plan END, " +
			"CASE WHEN " + setPlan + " THEN " + col(updateAnchor) + " ELSE a.anchor END, " +
			col(updateBalance) + ", " + col(updateSeq) + ", coalesce(" + col(updateHead) + ", a.head_hash), a.created_at, " +
			col(updateNextGrant) + ", " + col(updateNextExpiry) + ", (a.multi_pool OR " + col(updateMultiPool) + ")" +
			" FROM (" + values + ") AS v JOIN creditledger_accounts AS a ON a.id = " + col(updateID) + " WHERE true " +
			"ON CONFLICT (id) DO UPDATE SET plan = excluded.plan, anchor = excluded.anchor, balance = excluded.balance, " +
			"seq = excluded.seq, head_hash = excluded.head_hash, next_grant_at = excluded.next_grant_at, next_expiry_at = excluded.next_expiry_at, " +
			"multi_pool = excluded.multi_pool"
	})
}

// execRows runs the statements that write rows (their columns cs), in
// statements of at most sqliteRowsPerStatement rows, and returns how many
// rows they changed. statement makes each statement from col, the
// expression of column i of the rows (a literal when every row of the
// statement has the same value there, else the column of the VALUES), and
// values, "VALUES (...), (...)" of the other columns.
func execRows[T any](ctx context.Context, t *sqliteTx, cs columns[T], rows []T,
	statement func(col func(i int) string, values string) string) (int64, error) {
	var total int64
	j := sqlValues{}
	n := len(rows)
	for from := 0; from < n; from += sqliteRowsPerStatement {
		j.reset()
		for i := from; i < min(n, from+sqliteRowsPerStatement); i++ {
			j.row()
			cs.put(&j, &rows[i])
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
