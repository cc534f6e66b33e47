package bunstore

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"

	"github.com/creditledger/creditledger/storage"
)

// sqliteChunkRows is how many rows one SQLite INSERT or UPDATE writes. bun
// formats arguments into the statement text, so SQLite's limit on bound
// variables does not apply; the chunks only keep statements of a large
// batch to a reasonable size.
const sqliteChunkRows = 500

// chunks yields ss in pieces of at most n.
func chunks[T any](ss []T, n int) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for len(ss) > 0 {
			k := min(n, len(ss))
			if !yield(ss[:k:k]) {
				return
			}
			ss = ss[k:]
		}
	}
}

// writes is a Batch made ready for set-based statements that see the
// database as it was before the batch: debits summed per lot, debits of
// lots the batch inserts folded into their remaining, one update per
// account (the last one given).
type writes struct {
	lots     []storage.Lot
	entries  []storage.Entry
	metadata []string // JSON of entries[i].Metadata, "" for none
	debits   []storage.LotDebit
	accounts []storage.AccountUpdate
	holds    []storage.Hold // new holds, ended ones of the batch folded in
	lines    []string       // JSON of holds[i].Lines
	ended    []storage.HoldUpdate
}

func prepare(b *storage.Batch) (*writes, error) {
	w := &writes{
		lots:    slices.Clone(b.Lots),
		entries: b.Entries,
	}
	type lotKey struct{ account, id string }
	newLot := make(map[lotKey]int, len(w.lots))
	for i, l := range w.lots {
		if err := checkTexts("lot", l.ID, l.Account, l.OperationID, l.Source); err != nil {
			return nil, err
		}
		newLot[lotKey{l.Account, l.ID}] = i
	}
	w.metadata = make([]string, len(b.Entries))
	for i, e := range b.Entries {
		if err := checkTexts("entry", e.ID, e.Account, e.OperationID, e.LotID, string(e.Kind), e.Source, e.Description,
			e.Key, e.ParamHash); err != nil {
			return nil, err
		}
		if len(e.Hash) == 0 {
			return nil, fmt.Errorf("%w: entry %s of account %q has no hash", storage.ErrInvalidArgument, e.ID, e.Account)
		}
		for k, v := range e.Metadata {
			if err := checkTexts("entry metadata", k, v); err != nil {
				return nil, err
			}
		}
		md, err := encodeMetadata(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %s metadata: %w", storage.ErrInvalidArgument, e.ID, err)
		}
		w.metadata[i] = md
	}

	sums := make(map[lotKey]int64, len(b.Debits))
	for _, d := range b.Debits {
		if err := checkTexts("lot debit", d.Account, d.LotID); err != nil {
			return nil, err
		}
		if d.Amount <= 0 {
			return nil, fmt.Errorf("%w: debit of lot %s by %d (want > 0)", storage.ErrInvalidAmount, d.LotID, d.Amount)
		}
		k := lotKey{d.Account, d.LotID}
		if sums[k] > math.MaxInt64-d.Amount {
			return nil, fmt.Errorf("%w: debits of lot %s overflow int64", storage.ErrInvalidAmount, d.LotID)
		}
		sums[k] += d.Amount
	}
	// Credits fold in as negative debits: a lot's writes apply as one net
	// change, which the lots' CHECK bounds to [0, amount].
	for _, c := range b.Credits {
		if err := checkTexts("lot credit", c.Account, c.LotID); err != nil {
			return nil, err
		}
		if c.Amount <= 0 {
			return nil, fmt.Errorf("%w: credit of lot %s by %d (want > 0)", storage.ErrInvalidAmount, c.LotID, c.Amount)
		}
		k := lotKey{c.Account, c.LotID}
		if sums[k] < math.MinInt64+c.Amount {
			return nil, fmt.Errorf("%w: credits of lot %s overflow int64", storage.ErrInvalidAmount, c.LotID)
		}
		sums[k] -= c.Amount
	}
	if err := w.prepareHolds(b); err != nil {
		return nil, err
	}
	for k, amount := range sums {
		if amount == 0 {
			continue // debits and credits cancel out
		}
		if i, ok := newLot[k]; ok {
			// A lot written by this batch: the statement that
			// inserts it cannot see it, so debit it before.
			if amount > w.lots[i].Remaining || w.lots[i].Remaining-amount > w.lots[i].Amount {
				return nil, fmt.Errorf("bunstore: apply: %w: debit of %d exceeds the remaining %d of lot %s (or a credit its amount)",
					storage.ErrInsufficientCredits, amount, w.lots[i].Remaining, k.id)
			}
			w.lots[i].Remaining -= amount
			continue
		}
		w.debits = append(w.debits, storage.LotDebit{Account: k.account, LotID: k.id, Amount: amount})
	}
	// Key order: the order in which rows are locked by every writer.
	slices.SortFunc(w.debits, func(a, b storage.LotDebit) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return strings.Compare(a.LotID, b.LotID)
	})

	last := make(map[string]int, len(b.Accounts))
	for i, u := range b.Accounts {
		if err := checkTexts("account update", u.ID, u.Plan); err != nil {
			return nil, err
		}
		last[u.ID] = i
	}
	for i, u := range b.Accounts {
		if last[u.ID] == i {
			w.accounts = append(w.accounts, u)
		}
	}
	slices.SortFunc(w.accounts, func(a, b storage.AccountUpdate) int { return strings.Compare(a.ID, b.ID) })
	return w, nil
}

func checkTexts(what string, ss ...string) error {
	for _, s := range ss {
		if err := checkText(what, s); err != nil {
			return err
		}
	}
	return nil
}

// Apply writes b: lots, entries, lot debits and account updates. On PostgreSQL all of it is one statement (data-modifying
// CTEs over unnest of one array per column), so a batch of any size costs
// one round trip; on SQLite it is a few multi-row statements under a
// savepoint. Either way a failure writes nothing of b.
//
// Errors: an entry's key that exists on its account (or repeats within b)
// wraps storage.ErrDuplicateKey; a debit larger than a lot's remaining fails the
// lots' CHECK (remaining between 0 and amount) and says so; a debit of an
// unknown lot or an update of an unknown account wraps storage.ErrNotFound;
// a debit <= 0 wraps storage.ErrInvalidAmount; text with a NUL byte or
// invalid UTF-8 wraps storage.ErrInvalidArgument.
//
// On PostgreSQL with prepared statements (pipelined transactions) the
// statement is built and checked at once and sent with COMMIT, or before
// the transaction's next statement; Store.Tx then returns its errors.
func (t *tx) Apply(ctx context.Context, b *storage.Batch) error {
	return t.apply(ctx, b)
}

func (t *tx) apply(ctx context.Context, b *storage.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	w, err := prepare(b)
	if err != nil {
		return err
	}
	var debited, updated int
	if t.s.kind == postgres {
		debited, updated, err = t.applyPostgres(ctx, w, b)
	} else {
		debited, updated, err = t.applySQLite(ctx, w)
	}
	if err != nil {
		return applyError(err, b)
	}
	if debited != len(w.debits) {
		return fmt.Errorf("bunstore: apply: %w: %d of %d debited lots do not exist",
			storage.ErrNotFound, len(w.debits)-debited, len(w.debits))
	}
	if updated != len(w.accounts) {
		return fmt.Errorf("bunstore: apply: %w: %d of %d updated accounts do not exist",
			storage.ErrNotFound, len(w.accounts)-updated, len(w.accounts))
	}
	return nil
}

func applyError(err error, b *storage.Batch) error {
	switch {
	case isDuplicateOperationKey(err):
		var keys []string
		for _, e := range b.Entries {
			if e.Key != "" {
				keys = append(keys, e.Key)
			}
		}
		which := fmt.Sprintf("one of the keys %q", keys)
		if len(keys) == 1 {
			which = fmt.Sprintf("key %q", keys[0])
		}
		return fmt.Errorf("bunstore: apply: %w: %s: %w", storage.ErrDuplicateKey, which, err)
	case isLotRemainingViolation(err):
		return fmt.Errorf("bunstore: apply: %w: a lot debit exceeds the lot's remaining (or a lot's remaining is outside [0, amount]): %w", storage.ErrInsufficientCredits, err)
	case isRequiredCountViolation(err):
		return fmt.Errorf("bunstore: apply: %w: %w", storage.ErrNotFound, err)
	case isForeignKeyViolation(err):
		return fmt.Errorf("bunstore: apply: %w: a record names an account, operation or lot that does not exist: %w",
			storage.ErrNotFound, err)
	default:
		return fmt.Errorf("bunstore: apply: %w", err)
	}
}

// applyPostgres writes w in one statement and returns how many lots were
// debited and accounts updated. The sub-statements of a WITH all see the
// snapshot taken before it, which is why prepare folds debits of new lots
// and keeps one update per account.
func (t *tx) applyPostgres(ctx context.Context, w *writes, b *storage.Batch) (debited, updated int, err error) {
	var ctes, counts []string
	var args []any
	if len(w.lots) > 0 {
		var id, account, op, source, amount, remaining, priority, expires, created pgArray
		for _, l := range w.lots {
			id.str(l.ID)
			account.str(l.Account)
			op.str(l.OperationID)
			source.str(l.Source)
			amount.int(l.Amount)
			remaining.int(l.Remaining)
			priority.int(int64(l.Priority))
			expires.nullTime(l.ExpiresAt)
			created.time(l.CreatedAt)
		}
		ctes = append(ctes, `new_lots AS (
	INSERT INTO creditledger_lots (id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at)
	SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::timestamptz[], ?::timestamptz[])
	RETURNING 1)`)
		counts = append(counts, "(SELECT count(*) FROM new_lots)")
		args = append(args, t.arrays(&id, &account, &op, &source, &amount, &remaining, &priority, &expires, &created)...)
	}
	if len(w.entries) > 0 {
		var id, account, seq, op, lot, kind, amount, balance, source, desc, metadata, created pgArray
		var expires, key, paramHash, available, hash, ref pgArray
		for i, e := range w.entries {
			id.str(e.ID)
			account.str(e.Account)
			seq.int(e.Seq)
			op.str(e.OperationID)
			lot.nullStr(e.LotID)
			kind.str(string(e.Kind))
			amount.int(e.Amount)
			balance.int(e.BalanceAfter)
			source.str(e.Source)
			desc.str(e.Description)
			metadata.nullStr(w.metadata[i])
			created.time(e.CreatedAt)
			expires.nullTime(e.ExpiresAt)
			key.nullStr(e.Key)
			paramHash.nullStr(e.ParamHash)
			if e.Key != "" || e.Available != 0 {
				available.nullInt(&e.Available)
			} else {
				available.nullInt(nil)
			}
			hash.bytes(e.Hash)
			ref.nullStr(e.Ref)
		}
		ctes = append(ctes, `new_entries AS (
	INSERT INTO creditledger_entries (id, account_id, seq, operation_id, lot_id, kind, amount, balance_after, source, description, metadata, created_at,
		expires_at, idempotency_key, param_hash, available, hash, ref)
	SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::jsonb[], ?::timestamptz[],
		?::timestamptz[], ?::text[], ?::text[], ?::bigint[], ?::bytea[], ?::text[])
	RETURNING 1)`)
		counts = append(counts, "(SELECT count(*) FROM new_entries)")
		args = append(args, t.arrays(&id, &account, &seq, &op, &lot, &kind, &amount, &balance, &source, &desc, &metadata, &created,
			&expires, &key, &paramHash, &available, &hash, &ref)...)
	}
	// The counts of debited lots and updated accounts must be those of
	// the batch, or the statement fails (creditledger_require_count): a
	// pipelined Apply is followed by COMMIT before the client sees them.
	debitedAt, updatedAt := -1, -1
	var countArgs []any
	if len(w.debits) > 0 {
		var account, id, amount pgArray
		for _, d := range w.debits {
			account.str(d.Account)
			id.str(d.LotID)
			amount.int(d.Amount)
		}
		prune, pruneArgs := t.citusPrune("l.account_id", account.strs)
		ctes = append(ctes, `debited_lots AS (
	UPDATE creditledger_lots AS l SET remaining = l.remaining - d.amount
	FROM unnest(?::text[], ?::text[], ?::bigint[]) AS d(account_id, id, amount)
	WHERE l.account_id = d.account_id AND l.id = d.id`+prune+`
	RETURNING 1)`)
		debitedAt = len(counts)
		counts = append(counts, "creditledger_require_count('lots to debit', (SELECT count(*) FROM debited_lots), ?::bigint)")
		countArgs = append(countArgs, int64(len(w.debits)))
		args = append(args, t.arrays(&account, &id, &amount)...)
		args = append(args, pruneArgs...)
	}
	ctes, counts, countArgs, args = t.holdCTEs(w, ctes, counts, countArgs, args)
	if len(w.accounts) > 0 {
		var id, balance, seq, head, nextGrant, nextExpiry, setPlan, plan, anchor pgArray
		for _, u := range w.accounts {
			id.str(u.ID)
			balance.int(u.Balance)
			seq.int(u.Seq)
			head.bytes(u.HeadHash)
			nextGrant.nullTime(u.NextGrantAt)
			nextExpiry.nullTime(u.NextExpiryAt)
			setPlan.bool(u.SetPlan)
			plan.str(u.Plan)
			if u.SetPlan && !u.Anchor.IsZero() {
				anchor.nullTime(&u.Anchor)
			} else {
				anchor.nullTime(nil)
			}
		}
		prune, pruneArgs := t.citusPrune("a.id", id.strs)
		ctes = append(ctes, `updated_accounts AS (
	UPDATE creditledger_accounts AS a SET
		balance = u.balance,
		seq = u.seq,
		head_hash = coalesce(u.head_hash, a.head_hash),
		next_grant_at = u.next_grant_at,
		next_expiry_at = u.next_expiry_at,
		plan = CASE WHEN u.set_plan THEN u.plan ELSE a.plan END,
		anchor = CASE WHEN u.set_plan THEN u.anchor ELSE a.anchor END
	FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::bytea[], ?::timestamptz[], ?::timestamptz[], ?::bool[], ?::text[], ?::timestamptz[])
		AS u(id, balance, seq, head_hash, next_grant_at, next_expiry_at, set_plan, plan, anchor)
	WHERE a.id = u.id`+prune+`
	RETURNING 1)`)
		updatedAt = len(counts)
		counts = append(counts, "creditledger_require_count('accounts to update', (SELECT count(*) FROM updated_accounts), ?::bigint)")
		countArgs = append(countArgs, int64(len(w.accounts)))
		args = append(args, t.arrays(&id, &balance, &seq, &head, &nextGrant, &nextExpiry, &setPlan, &plan, &anchor)...)
		args = append(args, pruneArgs...)
	}

	query := "WITH " + strings.Join(ctes, ",\n") + "\nSELECT " + strings.Join(counts, ", ")
	args = append(args, countArgs...)
	if t.pc != nil {
		// Pipelined: send it with COMMIT, or before the next statement.
		if err := t.flush(ctx); err != nil {
			return 0, 0, err
		}
		t.pending = &pendingApply{query: numbered(query), args: args, batch: b}
		return len(w.debits), len(w.accounts), nil
	}
	got := make([]int64, len(counts))
	dest := make([]any, len(counts))
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

// applySQLite writes w with multi-row statements under a savepoint, so that
// a failure leaves the transaction as it was.
func (t *tx) applySQLite(ctx context.Context, w *writes) (debited, updated int, err error) {
	if _, err := t.idb.ExecContext(ctx, "SAVEPOINT creditledger_apply"); err != nil {
		return 0, 0, err
	}
	defer func() {
		if err != nil {
			_, _ = t.idb.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO creditledger_apply")
		}
		_, _ = t.idb.ExecContext(context.WithoutCancel(ctx), "RELEASE creditledger_apply")
	}()
	s := t.s

	err = t.insertRows(ctx, "creditledger_lots (id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at)",
		len(w.lots), func(i int) []any {
			l := w.lots[i]
			return []any{l.ID, l.Account, l.OperationID, l.Source, l.Amount, l.Remaining, int64(l.Priority),
				s.nullTimeArg(l.ExpiresAt), s.timeArg(l.CreatedAt)}
		})
	if err != nil {
		return 0, 0, err
	}
	err = t.insertRows(ctx, "creditledger_entries (id, account_id, seq, operation_id, lot_id, kind, amount, balance_after, source, description, metadata, created_at, "+
		"expires_at, idempotency_key, param_hash, available, hash, ref)",
		len(w.entries), func(i int) []any {
			e := w.entries[i]
			var available any
			if e.Key != "" || e.Available != 0 {
				available = e.Available
			}
			return []any{e.ID, e.Account, e.Seq, e.OperationID, nullString(e.LotID), string(e.Kind), e.Amount,
				e.BalanceAfter, e.Source, e.Description, nullString(w.metadata[i]), s.timeArg(e.CreatedAt),
				s.nullTimeArg(e.ExpiresAt), nullString(e.Key), nullString(e.ParamHash), available, e.Hash, nullString(e.Ref)}
		})
	if err != nil {
		return 0, 0, err
	}
	if err := t.applyHoldsSQLite(ctx, w); err != nil {
		return 0, 0, err
	}
	debited, err = t.updateRows(ctx, "d(account_id, id, amount)", `UPDATE creditledger_lots SET remaining = creditledger_lots.remaining - d.amount
FROM d WHERE creditledger_lots.account_id = d.account_id AND creditledger_lots.id = d.id`, len(w.debits), func(i int) []any {
		return []any{w.debits[i].Account, w.debits[i].LotID, w.debits[i].Amount}
	})
	if err != nil {
		return 0, 0, err
	}
	updated, err = t.updateRows(ctx, "u(id, balance, seq, head_hash, next_grant_at, next_expiry_at, set_plan, plan, anchor)",
		`UPDATE creditledger_accounts SET
	balance = u.balance,
	seq = u.seq,
	head_hash = coalesce(u.head_hash, creditledger_accounts.head_hash),
	next_grant_at = u.next_grant_at,
	next_expiry_at = u.next_expiry_at,
	plan = CASE WHEN u.set_plan THEN u.plan ELSE creditledger_accounts.plan END,
	anchor = CASE WHEN u.set_plan THEN u.anchor ELSE creditledger_accounts.anchor END
FROM u WHERE creditledger_accounts.id = u.id`, len(w.accounts), func(i int) []any {
			u := w.accounts[i]
			setPlan, anchor := 0, any(nil)
			if u.SetPlan {
				setPlan = 1
				if !u.Anchor.IsZero() {
					anchor = s.timeArg(u.Anchor)
				}
			}
			return []any{u.ID, u.Balance, u.Seq, u.HeadHash, s.nullTimeArg(u.NextGrantAt), s.nullTimeArg(u.NextExpiryAt),
				setPlan, u.Plan, anchor}
		})
	if err != nil {
		return 0, 0, err
	}
	return debited, updated, nil
}

// valuesRows returns "(?, ?), (?, ?)" for rows i in [from, to) and their
// arguments.
func valuesRows(from, to int, row func(i int) []any) (string, []any) {
	var sb strings.Builder
	var args []any
	for i := from; i < to; i++ {
		vals := row(i)
		if i > from {
			sb.WriteString(", ")
		}
		sb.WriteString("(?")
		sb.WriteString(strings.Repeat(", ?", len(vals)-1))
		sb.WriteByte(')')
		args = append(args, vals...)
	}
	return sb.String(), args
}

// insertRows inserts n rows into table (with its column list) in chunks.
func (t *tx) insertRows(ctx context.Context, table string, n int, row func(i int) []any) error {
	for from := 0; from < n; from += sqliteChunkRows {
		values, args := valuesRows(from, min(from+sqliteChunkRows, n), row)
		if _, err := t.idb.ExecContext(ctx, "INSERT INTO "+table+" VALUES "+values, args...); err != nil {
			return err
		}
	}
	return nil
}

// updateRows runs "WITH cte AS (VALUES ...) update" over n rows in chunks
// and returns how many rows it changed.
func (t *tx) updateRows(ctx context.Context, cte, update string, n int, row func(i int) []any) (int, error) {
	total := 0
	for from := 0; from < n; from += sqliteChunkRows {
		values, args := valuesRows(from, min(from+sqliteChunkRows, n), row)
		res, err := t.idb.ExecContext(ctx, "WITH "+cte+" AS (VALUES "+values+") "+update, args...)
		if err != nil {
			return 0, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		total += int(k)
	}
	return total, nil
}
