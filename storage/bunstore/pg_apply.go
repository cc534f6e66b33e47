package bunstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/creditledger/creditledger/storage"
)

// Apply writes b in one statement: data-modifying CTEs over unnest of one
// array per column (columns.go), so a batch of any size costs one round
// trip, and a failure writes nothing of b. Errors are those of
// storage.Tx.Apply: an entry's key that exists on its account (or repeats
// within b) wraps storage.ErrDuplicateKey; a debit past a lot's remaining
// fails the lots' CHECK and wraps storage.ErrInsufficientCredits; a debit
// of an unknown lot, an update of an unknown account or of a hold that is
// not active wraps storage.ErrNotFound; a debit or credit <= 0 wraps
// storage.ErrInvalidAmount; text with a NUL byte or invalid UTF-8 wraps
// storage.ErrInvalidArgument.
//
// In a pipelined transaction (pg_pipeline.go) the statement is built and
// checked at once and sent with COMMIT, or before the transaction's next
// statement; Store.Tx then returns its errors.
func (t *tx) Apply(ctx context.Context, b *storage.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	w, err := prepare(b)
	if err != nil {
		return err
	}
	debited, updated, err := t.applyPostgres(ctx, w, b)
	if err != nil {
		return applyError(err, b)
	}
	if n := w.changedLots(); debited != n {
		return fmt.Errorf("bunstore: apply: %w: %d of %d debited lots (or lots whose expiry to set) do not exist",
			storage.ErrNotFound, n-debited, n)
	}
	if updated != len(w.accounts) {
		return fmt.Errorf("bunstore: apply: %w: %d of %d updated accounts do not exist",
			storage.ErrNotFound, len(w.accounts)-updated, len(w.accounts))
	}
	return nil
}

// The sub-statements of Apply, each over unnest of its columns' arrays.
var (
	pgInsertLots = `new_lots AS (
	INSERT INTO creditledger_lots (` + lotCols + `)
	SELECT * FROM ` + lotColumns.pgUnnest() + `
	RETURNING 1)`
	pgInsertEntries = `new_entries AS (
	INSERT INTO creditledger_entries (` + entryCols + `)
	SELECT * FROM ` + entryColumns.pgUnnest() + `
	RETURNING 1)`
	pgInsertHolds = `new_holds AS (
	INSERT INTO creditledger_holds (` + holdCols + `)
	SELECT * FROM ` + holdColumns.pgUnnest() + `
	RETURNING 1)`
	pgDebitLots = `debited_lots AS (
	UPDATE creditledger_lots AS l SET remaining = l.remaining - d.amount
	FROM ` + debitColumns.pgUnnest() + ` AS d(` + debitColumns.list("") + `)
	WHERE l.account_id = d.account_id AND l.id = d.id` + pruneMark + `
	RETURNING 1)`
	// pgChangeLots is pgDebitLots when the batch also sets lots' expiry:
	// one UPDATE for both, since two sub-statements of one statement must
	// not update the same row.
	pgChangeLots = `debited_lots AS (
	UPDATE creditledger_lots AS l SET remaining = l.remaining - d.amount,
		expires_at = CASE WHEN d.set_expiry THEN d.expires_at ELSE l.expires_at END
	FROM ` + lotChangeColumns.pgUnnest() + ` AS d(` + lotChangeColumns.list("") + `)
	WHERE l.account_id = d.account_id AND l.id = d.id` + pruneMark + `
	RETURNING 1)`
	pgEndHolds = `ended_holds AS (
	UPDATE creditledger_holds AS h SET state = u.state, captured = u.captured, ended_at = u.ended_at, end_operation_id = u.end_operation_id
	FROM ` + holdEndColumns.pgUnnest() + `
		AS u(` + holdEndColumns.list("") + `)
	WHERE h.account_id = u.account_id AND h.id = u.id AND h.state = 'active'` + pruneMark + `
	RETURNING 1)`
	pgUpdateAccounts = `updated_accounts AS (
	UPDATE creditledger_accounts AS a SET
		balance = u.balance,
		seq = u.seq,
		head_hash = coalesce(u.head_hash, a.head_hash),
		next_grant_at = u.next_grant_at,
		next_expiry_at = u.next_expiry_at,
		multi_pool = a.multi_pool OR u.multi_pool,
		plan = CASE WHEN u.set_plan THEN u.plan ELSE a.plan END,
		anchor = CASE WHEN u.set_plan THEN u.anchor ELSE a.anchor END
	FROM ` + accountUpdateColumns.pgUnnest() + `
		AS u(` + accountUpdateColumns.list("") + `)
	WHERE a.id = u.id` + pruneMark + `
	RETURNING 1)`
)

// pruneMark is where an UPDATE above takes Citus's shard pruning
// condition (tx.citusPrune): without it, Citus sends a join with unnest
// to every shard. On plain PostgreSQL it is removed.
const pruneMark = "/*prune*/"

// pgStatement is an Apply statement being built: its CTEs, the counts it
// selects, and their arguments.
type pgStatement struct {
	native    bool // arguments for pgx (Go slices), else for bun
	ctes      []string
	counts    []string
	args      []any
	countArgs []any
}

// add adds a CTE writing rows, with its count: the row count itself, or,
// with required >= 0, creditledger_require_count of it (labelled what)
// against required,
// which fails the statement when they differ (a pipelined Apply is
// followed by COMMIT before the client sees the counts). It returns the
// count's position among the selected values.
//
// prune, when not "", replaces pruneMark in cte, and pruneArgs follow the
// columns' arguments.
func add[T any](st *pgStatement, cte, name string, cs columns[T], rows []T, what string, required int, prune string, pruneArgs ...any) int {
	st.ctes = append(st.ctes, strings.Replace(cte, pruneMark, prune, 1))
	count := "(SELECT count(*) FROM " + name + ")"
	if required >= 0 {
		count = "creditledger_require_count('" + what + "', " + count + ", ?::bigint)"
		st.countArgs = append(st.countArgs, int64(required))
	}
	st.counts = append(st.counts, count)
	st.args = append(st.args, pgColumnArgs(cs, rows, st.native)...)
	st.args = append(st.args, pruneArgs...)
	return len(st.counts) - 1
}

// applyPostgres writes w in one statement and returns how many lots were
// debited and accounts updated. The sub-statements of a WITH all see the
// snapshot taken before it, which is why prepare folds debits of new lots
// and keeps one update per account.
func (t *tx) applyPostgres(ctx context.Context, w *writes, b *storage.Batch) (debited, updated int, err error) {
	st := &pgStatement{native: t.pc != nil}
	if len(w.lots) > 0 {
		add(st, pgInsertLots, "new_lots", lotColumns, w.lots, "", -1, "")
	}
	if len(w.entries) > 0 {
		add(st, pgInsertEntries, "new_entries", entryColumns, w.entries, "", -1, "")
	}
	debitedAt, updatedAt := -1, -1
	if len(w.expiries) > 0 {
		changes := w.lotChanges()
		prune, pruneArgs := citusPruneOf(t, "l.account_id", changes, func(c lotChange) string { return c.account })
		debitedAt = add(st, pgChangeLots, "debited_lots", lotChangeColumns, changes, "lots to debit or set the expiry of", len(changes), prune, pruneArgs...)
	} else if len(w.debits) > 0 {
		prune, pruneArgs := citusPruneOf(t, "l.account_id", w.debits, func(d storage.LotDebit) string { return d.Account })
		debitedAt = add(st, pgDebitLots, "debited_lots", debitColumns, w.debits, "lots to debit", len(w.debits), prune, pruneArgs...)
	}
	if len(w.holds) > 0 {
		add(st, pgInsertHolds, "new_holds", holdColumns, w.holds, "", -1, "")
	}
	if len(w.ended) > 0 {
		prune, pruneArgs := citusPruneOf(t, "h.account_id", w.ended, func(u storage.HoldUpdate) string { return u.Account })
		add(st, pgEndHolds, "ended_holds", holdEndColumns, w.ended, "active holds to end", len(w.ended), prune, pruneArgs...)
	}
	if len(b.Events) > 0 {
		add(st, pgInsertEvents, "new_events", eventInsertColumns, b.Events, "", -1, "")
	}
	if len(b.Notices) > 0 {
		add(st, pgInsertNotices, "new_notices", noticeColumns, b.Notices, "", -1, "")
	}
	if len(w.accounts) > 0 {
		prune, pruneArgs := citusPruneOf(t, "a.id", w.accounts, func(u storage.AccountUpdate) string { return u.ID })
		updatedAt = add(st, pgUpdateAccounts, "updated_accounts", accountUpdateColumns, w.accounts, "accounts to update", len(w.accounts), prune, pruneArgs...)
	}

	if len(st.ctes) == 0 {
		return 0, 0, nil // a batch whose debits and credits cancel out writes nothing
	}
	query := "WITH " + strings.Join(st.ctes, ",\n") + "\nSELECT " + strings.Join(st.counts, ", ")
	args := append(st.args, st.countArgs...)
	if t.pc != nil {
		// Pipelined: send it with COMMIT, or before the next statement.
		if err := t.flush(ctx); err != nil {
			return 0, 0, err
		}
		t.pending = &pendingApply{query: numbered(query), args: args, batch: b}
		return w.changedLots(), len(w.accounts), nil
	}
	got := make([]int64, len(st.counts))
	dest := make([]any, len(st.counts))
	for i := range got {
		dest[i] = &got[i]
	}
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return 0, 0, err
	}
	if !rows.Next() {
		err = rows.Err()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = fmt.Errorf("no row of counts")
		}
		return 0, 0, err
	}
	err = rows.Scan(dest...)
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, err
	}
	if debitedAt >= 0 {
		debited = int(got[debitedAt])
	}
	if updatedAt >= 0 {
		updated = int(got[updatedAt])
	}
	return debited, updated, nil
}

// citusPruneOf is t.citusPrune over the accounts of rows; on one
// PostgreSQL it returns "" without collecting them, so Apply's hot path
// pays nothing for Citus.
func citusPruneOf[T any](t *tx, col string, rows []T, account func(T) string) (string, []any) {
	if !t.s.citus.Load() {
		return "", nil
	}
	accounts := make([]string, len(rows))
	for i, r := range rows {
		accounts[i] = account(r)
	}
	return t.citusPrune(col, accounts)
}
