package bunstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/creditledger/creditledger/storage"
)

// holdCols are the columns scanHold reads.
const holdCols = "account_id, id, amount, captured, state, expires_at, created_at, ended_at, end_operation_id, lines"

// holdLine is a hold line as stored in the lines column.
type holdLine struct {
	Lot    string `json:"lot"`
	Amount int64  `json:"amount"`
}

func encodeLines(lines []storage.HoldLine) (string, error) {
	out := make([]holdLine, len(lines))
	for i, ln := range lines {
		if err := checkText("hold line lot", ln.LotID); err != nil {
			return "", err
		}
		out[i] = holdLine{Lot: ln.LotID, Amount: ln.Amount}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func scanHold(rows rowScanner) (storage.Hold, error) {
	var h storage.Hold
	var state string
	var expires, created, ended timeCol
	var endOp, lines textCol
	err := rows.Scan(&h.Account, &h.ID, &h.Amount, &h.Captured, &state, &expires, &created, &ended, &endOp, &lines)
	if err != nil {
		return h, err
	}
	h.State = storage.HoldState(state)
	h.ExpiresAt, h.CreatedAt, h.EndedAt = expires.t, created.t, ended.ptr()
	h.EndOperationID = string(endOp)
	var ls []holdLine
	if err := json.Unmarshal([]byte(lines), &ls); err != nil {
		return h, fmt.Errorf("bunstore: lines of hold %s: %w", h.ID, err)
	}
	for _, ln := range ls {
		h.Lines = append(h.Lines, storage.HoldLine{LotID: ln.Lot, Amount: ln.Amount})
	}
	return h, nil
}

// Holds returns holds of q.Account by CreatedAt then ID: all, the one
// named q.ID, and with q.OnlyActive those in state active.
func (s *Store) Holds(ctx context.Context, q storage.HoldQuery) ([]storage.Hold, error) {
	where := "account_id = ?"
	args := []any{q.Account}
	if q.ID != "" {
		where += " AND id = ?"
		args = append(args, q.ID)
	}
	if q.OnlyActive {
		where += " AND state = 'active'"
	}
	holds, err := queryAll(ctx, iconn{s.reader()}, scanHold,
		"SELECT "+holdCols+" FROM creditledger_holds WHERE "+where+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: holds of %q: %w", q.Account, err)
	}
	return holds, nil
}

// pairs splits account keys into their distinct accounts and keys, and a
// set of the pairs to keep rows by.
func pairs(ks []storage.AccountKey) (accounts, keys []string, set map[storage.AccountKey]bool) {
	set = make(map[storage.AccountKey]bool, len(ks))
	for _, k := range ks {
		set[k] = true
		accounts = append(accounts, k.Account)
		keys = append(keys, k.Key)
	}
	return uniqueSorted(accounts), uniqueSorted(keys), set
}

// loadHolds reads what q asks of holds, lots by id and entries by
// operation into out.
func (t *tx) loadHolds(ctx context.Context, q storage.LoadQuery, out *storage.Loaded) error {
	seen := map[storage.AccountKey]bool{}
	add := func(hs []storage.Hold, keep map[storage.AccountKey]bool) {
		for _, h := range hs {
			k := storage.AccountKey{Account: h.Account, Key: h.ID}
			if (keep == nil || keep[k]) && !seen[k] {
				seen[k] = true
				out.Holds = append(out.Holds, h)
			}
		}
	}
	if ids := uniqueSorted(q.HoldsOf); len(ids) > 0 {
		in, arg := t.inList("account_id", ids)
		hs, err := queryAll(ctx, t, scanHold,
			"SELECT "+holdCols+" FROM creditledger_holds WHERE "+in+" AND state = 'active' ORDER BY account_id, created_at, id", arg)
		if err != nil {
			return fmt.Errorf("bunstore: loading active holds: %w", err)
		}
		add(hs, nil)
	}
	if len(q.Holds) > 0 {
		accounts, ids, set := pairs(q.Holds)
		inA, argA := t.inList("account_id", accounts)
		inI, argI := t.inList("id", ids)
		hs, err := queryAll(ctx, t, scanHold,
			"SELECT "+holdCols+" FROM creditledger_holds WHERE "+inA+" AND "+inI+" ORDER BY account_id, created_at, id", argA, argI)
		if err != nil {
			return fmt.Errorf("bunstore: loading holds: %w", err)
		}
		add(hs, set)
	}
	if len(q.Lots) > 0 {
		accounts, ids, set := pairs(q.Lots)
		inA, argA := t.inList("account_id", accounts)
		inI, argI := t.inList("id", ids)
		lots, err := queryAll(ctx, t, scanLot,
			"SELECT "+lotCols+" FROM creditledger_lots WHERE "+inA+" AND "+inI+" ORDER BY account_id, id", argA, argI)
		if err != nil {
			return fmt.Errorf("bunstore: loading lots by id: %w", err)
		}
		for _, l := range lots {
			if set[storage.AccountKey{Account: l.Account, Key: l.ID}] {
				out.Lots = append(out.Lots, l)
			}
		}
	}
	if len(q.Refs) > 0 {
		accounts, ids, set := pairs(q.Refs)
		inA, argA := t.inList("account_id", accounts)
		inO, argO := t.inList("operation_id", ids)
		inR, argR := t.inList("ref", ids)
		entries, err := queryAll(ctx, t, scanEntry,
			"SELECT "+entryCols+" FROM creditledger_entries WHERE "+inA+" AND ("+inO+" OR "+inR+") ORDER BY account_id, seq",
			argA, argO, argR)
		if err != nil {
			return fmt.Errorf("bunstore: loading entries by operation: %w", err)
		}
		for _, e := range entries {
			if set[storage.AccountKey{Account: e.Account, Key: e.OperationID}] ||
				(e.Ref != "" && set[storage.AccountKey{Account: e.Account, Key: e.Ref}]) {
				out.Entries = append(out.Entries, e)
			}
		}
	}
	return nil
}

// prepareHolds checks the batch's holds and hold updates into w: an
// update of a hold the batch inserts is folded into the insert, which the
// update's statement could not see.
func (w *writes) prepareHolds(b *storage.Batch) error {
	w.holds = slices.Clone(b.Holds)
	fresh := make(map[storage.AccountKey]int, len(w.holds))
	for i, h := range w.holds {
		if err := checkTexts("hold", h.ID, h.Account); err != nil {
			return err
		}
		if h.State != storage.HoldActive {
			return fmt.Errorf("%w: new hold %s in state %q", storage.ErrInvalidArgument, h.ID, h.State)
		}
		fresh[storage.AccountKey{Account: h.Account, Key: h.ID}] = i
	}
	seen := map[storage.AccountKey]bool{}
	for _, u := range b.HoldUpdates {
		if err := checkTexts("hold update", u.ID, u.Account, u.EndOperationID); err != nil {
			return err
		}
		k := storage.AccountKey{Account: u.Account, Key: u.ID}
		if seen[k] {
			return fmt.Errorf("%w: hold %s of account %q ended twice in one batch", storage.ErrNotFound, u.ID, u.Account)
		}
		seen[k] = true
		if i, ok := fresh[k]; ok {
			h := &w.holds[i]
			end := u.EndedAt
			h.State, h.Captured, h.EndedAt, h.EndOperationID = u.State, u.Captured, &end, u.EndOperationID
			continue
		}
		w.ended = append(w.ended, u)
	}
	w.lines = make([]string, len(w.holds))
	for i, h := range w.holds {
		js, err := encodeLines(h.Lines)
		if err != nil {
			return err
		}
		w.lines[i] = js
	}
	return nil
}

// holdCTEs adds to a PostgreSQL Apply statement the insert of new holds
// and the update of ended ones, which must all be active.
func (t *tx) holdCTEs(w *writes, ctes, counts []string, countArgs, args []any) ([]string, []string, []any, []any) {
	if len(w.holds) > 0 {
		var account, id, amount, captured, state, expires, created, ended, endOp, lines pgArray
		for i, h := range w.holds {
			account.str(h.Account)
			id.str(h.ID)
			amount.int(h.Amount)
			captured.int(h.Captured)
			state.str(string(h.State))
			expires.time(h.ExpiresAt)
			created.time(h.CreatedAt)
			ended.nullTime(h.EndedAt)
			endOp.nullStr(h.EndOperationID)
			lines.str(w.lines[i])
		}
		ctes = append(ctes, `new_holds AS (
	INSERT INTO creditledger_holds (account_id, id, amount, captured, state, expires_at, created_at, ended_at, end_operation_id, lines)
	SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::timestamptz[], ?::text[], ?::jsonb[])
	RETURNING 1)`)
		counts = append(counts, "(SELECT count(*) FROM new_holds)")
		args = append(args, t.arrays(&account, &id, &amount, &captured, &state, &expires, &created, &ended, &endOp, &lines)...)
	}
	if len(w.ended) > 0 {
		var account, id, state, captured, ended, endOp pgArray
		for _, u := range w.ended {
			account.str(u.Account)
			id.str(u.ID)
			state.str(string(u.State))
			captured.int(u.Captured)
			ended.time(u.EndedAt)
			endOp.str(u.EndOperationID)
		}
		prune, pruneArgs := t.citusPrune("h.account_id", account.strs)
		ctes = append(ctes, `ended_holds AS (
	UPDATE creditledger_holds AS h SET state = u.state, captured = u.captured, ended_at = u.ended_at, end_operation_id = u.end_operation_id
	FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::timestamptz[], ?::text[])
		AS u(account_id, id, state, captured, ended_at, end_operation_id)
	WHERE h.account_id = u.account_id AND h.id = u.id AND h.state = 'active'`+prune+`
	RETURNING 1)`)
		counts = append(counts, "creditledger_require_count('active holds to end', (SELECT count(*) FROM ended_holds), ?::bigint)")
		countArgs = append(countArgs, int64(len(w.ended)))
		args = append(args, t.arrays(&account, &id, &state, &captured, &ended, &endOp)...)
		args = append(args, pruneArgs...)
	}
	return ctes, counts, countArgs, args
}

// applyHoldsSQLite inserts the new holds and ends the others, which must
// all be active.
func (t *tx) applyHoldsSQLite(ctx context.Context, w *writes) error {
	s := t.s
	err := t.insertRows(ctx, "creditledger_holds ("+holdCols+")", len(w.holds), func(i int) []any {
		h := w.holds[i]
		return []any{h.Account, h.ID, h.Amount, h.Captured, string(h.State), s.timeArg(h.ExpiresAt), s.timeArg(h.CreatedAt),
			s.nullTimeArg(h.EndedAt), nullString(h.EndOperationID), w.lines[i]}
	})
	if err != nil {
		return err
	}
	n, err := t.updateRows(ctx, "u(account_id, id, state, captured, ended_at, end_operation_id)",
		`UPDATE creditledger_holds SET state = u.state, captured = u.captured, ended_at = u.ended_at, end_operation_id = u.end_operation_id
FROM u WHERE creditledger_holds.account_id = u.account_id AND creditledger_holds.id = u.id AND creditledger_holds.state = 'active'`,
		len(w.ended), func(i int) []any {
			u := w.ended[i]
			return []any{u.Account, u.ID, string(u.State), u.Captured, s.timeArg(u.EndedAt), u.EndOperationID}
		})
	if err != nil {
		return err
	}
	if n != len(w.ended) {
		return fmt.Errorf("bunstore: apply: %w: %d of %d holds to end are not active or do not exist",
			storage.ErrNotFound, len(w.ended)-n, len(w.ended))
	}
	return nil
}
