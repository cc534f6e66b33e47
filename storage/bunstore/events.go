package bunstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// The outbox (storage/events.go) on both dialects: creditledger_events
// and creditledger_lot_notices (schema 7).
//
// Apply inserts a batch's events with its other writes: on PostgreSQL a
// CTE of Apply's one statement whose seq is the table's sequence (taken in
// the order of the batch, WITH ORDINALITY); on SQLite one more statement,
// with seq given from the greatest stored one (transactions are
// serialized).
//
// ClaimEvents is one statement on PostgreSQL: it locks the oldest
// claimable events with FOR UPDATE SKIP LOCKED, keeps for each account
// only those that precede every unacknowledged event of the account it
// did not lock (one leased to, or being claimed by, another claimer), and
// leases what it kept. On Citus, where a FOR UPDATE must stay on one shard,
// it first reads the candidates across the shards without locking, then
// runs that statement once per shard, restricted to the accounts of that
// shard (every table reference names them, so Citus routes it to one
// worker). On SQLite the same rule runs in Go inside a write transaction.

// eventColumns are the columns of creditledger_events; what a batch
// writes is eventInsertColumns (PostgreSQL: seq from the sequence) or
// eventSeqColumns (SQLite: seq given).
var eventColumns = columns[storage.Event]{
	{"account_id", "text", func(c cells, e *storage.Event) { c.str(e.Account) }, func(e *storage.Event) any { return (*text)(&e.Account) }},
	{"seq", "bigint", func(c cells, e *storage.Event) { c.int(e.Seq) }, func(e *storage.Event) any { return (*integer)(&e.Seq) }},
	{"id", "text", func(c cells, e *storage.Event) { c.str(e.ID) }, func(e *storage.Event) any { return (*text)(&e.ID) }},
	{"pool", "text", func(c cells, e *storage.Event) { c.str(e.Pool) }, func(e *storage.Event) any { return (*text)(&e.Pool) }},
	{"type", "text", func(c cells, e *storage.Event) { c.str(e.Type) }, func(e *storage.Event) any { return (*text)(&e.Type) }},
	{"operation_id", "text", func(c cells, e *storage.Event) { c.nullStr(e.OperationID) }, func(e *storage.Event) any { return (*text)(&e.OperationID) }},
	{"lot_id", "text", func(c cells, e *storage.Event) { c.nullStr(e.LotID) }, func(e *storage.Event) any { return (*text)(&e.LotID) }},
	{"amount", "bigint", func(c cells, e *storage.Event) { c.int(e.Amount) }, func(e *storage.Event) any { return (*integer)(&e.Amount) }},
	{"balance", "bigint", func(c cells, e *storage.Event) { c.int(e.Balance) }, func(e *storage.Event) any { return (*integer)(&e.Balance) }},
	{"at", "timestamptz", func(c cells, e *storage.Event) { c.time(e.At) }, func(e *storage.Event) any { return (*utcTime)(&e.At) }},
	{"leased_until", "timestamptz", nil, func(e *storage.Event) any { return nullTime{&e.LeasedUntil} }},
	{"attempts", "bigint", nil, func(e *storage.Event) any { return (*smallInt)(&e.Attempts) }},
	{"acked_at", "timestamptz", nil, func(e *storage.Event) any { return nullTime{&e.AckedAt} }},
}

var (
	eventSeqColumns    = eventColumns[:eventColumns.index("leased_until")]
	eventInsertColumns = slices.Concat(eventSeqColumns[:1], eventSeqColumns[2:])
	eventCols          = eventColumns.list("")
	scanEvent          = eventColumns.scanner()
)

var noticeColumns = columns[storage.LotNotice]{
	{"account_id", "text", func(c cells, n *storage.LotNotice) { c.str(n.Account) }, nil},
	{"lot_id", "text", func(c cells, n *storage.LotNotice) { c.str(n.ID) }, nil},
}

// The CTEs of Apply's PostgreSQL statement for events and notices.
var (
	pgInsertEvents = `new_events AS (
	INSERT INTO creditledger_events (` + eventInsertColumns.list("") + `)
	SELECT ` + eventInsertColumns.list("u.") + ` FROM ` + eventInsertColumns.pgUnnest() + ` WITH ORDINALITY
		AS u(` + eventInsertColumns.list("") + `, ord) ORDER BY u.ord
	RETURNING 1)`
	pgInsertNotices = `new_notices AS (
	INSERT INTO creditledger_lot_notices (account_id, lot_id)
	SELECT * FROM ` + noticeColumns.pgUnnest() + `
	ON CONFLICT DO NOTHING
	RETURNING 1)`
)

// checkEvents checks the text of a batch's events and notices.
func checkEvents(b *storage.Batch) error {
	for _, e := range b.Events {
		if err := checkTexts("event", e.ID, e.Account, e.Pool, e.Type, e.OperationID, e.LotID); err != nil {
			return err
		}
		if e.ID == "" || e.Type == "" {
			return fmt.Errorf("%w: event of account %q without an id or a type", storage.ErrInvalidArgument, e.Account)
		}
	}
	for _, n := range b.Notices {
		if err := checkTexts("lot notice", n.Account, n.ID); err != nil {
			return err
		}
	}
	return nil
}

// insertEventsSQLite writes the batch's events and notices on SQLite and
// returns how many statements changed rows (for Apply's doom rule).
func (t *sqliteTx) insertEvents(ctx context.Context, b *storage.Batch) (ran bool, err error) {
	if len(b.Events) > 0 {
		var top integer
		rows, err := t.query(ctx, "SELECT coalesce(max(seq), 0) FROM creditledger_events")
		if err != nil {
			return false, err
		}
		if rows.Next() {
			err = rows.Scan(&top)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, err
		}
		evs := slices.Clone(b.Events)
		for i := range evs {
			evs[i].Seq = int64(top) + int64(i) + 1
		}
		if _, err := execRows(ctx, t, eventSeqColumns, evs,
			insertInto("creditledger_events", eventSeqColumns.list(""), len(eventSeqColumns))); err != nil {
			return false, err
		}
		ran = true
	}
	if len(b.Notices) > 0 {
		if _, err := execRows(ctx, t, noticeColumns, b.Notices, func(col func(int) string, values string) string {
			return insertInto("creditledger_lot_notices", "account_id, lot_id", 2)(col, values) + " WHERE true ON CONFLICT DO NOTHING"
		}); err != nil {
			return ran, err
		}
		ran = true
	}
	return ran, nil
}

// loadNotices reads which of q.Notices have a notice.
func loadNotices(ctx context.Context, t loader, q storage.LoadQuery, out *storage.Loaded) error {
	steps, err := noticeSteps(t, q, out)
	if err != nil {
		return err
	}
	return runSteps(ctx, t, steps)
}

// noticeSteps is the statement of loadNotices, if q asks for notices.
func noticeSteps(t loader, q storage.LoadQuery, out *storage.Loaded) ([]loadStep, error) {
	if len(q.Notices) == 0 {
		return nil, nil
	}
	accounts, ids, set := pairs(q.Notices)
	cond, args, err := inBoth(t, "account_id", accounts, "lot_id", ids)
	if err != nil {
		return nil, err
	}
	return []loadStep{stepOf("loading lot notices", "SELECT account_id, lot_id FROM creditledger_lot_notices WHERE "+cond, args,
		func(r rowScanner) (storage.AccountID, error) {
			var a, id text
			err := r.Scan(&a, &id)
			return storage.AccountID{Account: string(a), ID: string(id)}, err
		}, func(n storage.AccountID) {
			if set[n] {
				out.Notices = append(out.Notices, n)
			}
		})}, nil
}

// pgClaimable is the condition of a claim's candidates (the table as c,
// its two arguments the claim's now): not acknowledged, not leased, and not
// behind an event of its account that is leased (which holds the
// account's later events back: leaving them out lets the LIMIT reach
// other accounts' events).
const pgClaimable = `c.acked_at IS NULL AND (c.leased_until IS NULL OR c.leased_until <= ?)
	AND NOT EXISTS (SELECT 1 FROM creditledger_events AS p WHERE p.account_id = c.account_id AND p.seq < c.seq
		AND p.acked_at IS NULL AND p.leased_until > ?/*in:p.*/)`

// pgClaimEvents is the claim's statement (see the top of the file). The
// marks /*in:X*/ (pgClaimable's too) take, on Citus, the condition naming
// the shard's accounts on each table reference.
const pgClaimEvents = `WITH cand AS (
	SELECT account_id, seq FROM creditledger_events AS c
	WHERE ` + pgClaimable + `/*in:*/
	ORDER BY seq LIMIT ?
	FOR UPDATE SKIP LOCKED
), hi AS (
	SELECT account_id, max(seq) AS hi FROM cand GROUP BY account_id
), gap AS (
	SELECT e.account_id, min(e.seq) AS first_gap
	FROM creditledger_events AS e JOIN hi ON e.account_id = hi.account_id
	WHERE e.acked_at IS NULL AND e.seq <= hi.hi/*in:e.*/
		AND NOT EXISTS (SELECT 1 FROM cand AS c WHERE c.account_id = e.account_id AND c.seq = e.seq)
	GROUP BY e.account_id
), keep AS (
	SELECT c.account_id, c.seq FROM cand AS c LEFT JOIN gap AS g ON g.account_id = c.account_id
	WHERE g.first_gap IS NULL OR c.seq < g.first_gap
)
UPDATE creditledger_events AS e SET leased_until = ?, attempts = e.attempts + 1
FROM keep WHERE e.account_id = keep.account_id AND e.seq = keep.seq/*in:e.*/
RETURNING ` + "e.account_id, e.seq, e.id, e.pool, e.type, e.operation_id, e.lot_id, e.amount, e.balance, e.at, e.leased_until, e.attempts, e.acked_at"

func checkClaim(q storage.EventClaim) error {
	if q.Limit <= 0 || q.Lease <= 0 {
		return fmt.Errorf("%w: a claim of %d events for %s (want both > 0)", storage.ErrInvalidArgument, q.Limit, q.Lease)
	}
	return nil
}

// ClaimEvents leases events by the claim rule (storage.EventStore).
func (s *Store) ClaimEvents(ctx context.Context, q storage.EventClaim) ([]storage.Event, error) {
	if err := checkClaim(q); err != nil {
		return nil, err
	}
	var out []storage.Event
	err := s.Tx(ctx, func(ctx context.Context, stx storage.Tx) error {
		out = nil
		switch t := stx.(type) {
		case *sqliteTx:
			got, err := t.claimEvents(ctx, q)
			out = got
			return err
		case *tx:
			if s.citus.Load() {
				got, err := t.claimEventsCitus(ctx, q)
				out = got
				return err
			}
			got, err := t.claimEvents(ctx, q, q.Limit, nil)
			out = got
			return err
		}
		return fmt.Errorf("bunstore: claim events: unexpected transaction %T", stx)
	})
	if err != nil {
		return nil, fmt.Errorf("bunstore: claiming events: %w", err)
	}
	sortEvents(out)
	return out, nil
}

// claimEvents runs pgClaimEvents for at most limit events; accounts, when
// not nil, restricts it to those accounts (all of one shard on Citus).
func (t *tx) claimEvents(ctx context.Context, q storage.EventClaim, limit int, accounts []string) ([]storage.Event, error) {
	query := pgClaimEvents
	now, until := t.s.timeArg(q.Now), t.s.timeArg(q.Now.Add(q.Lease))
	var args []any
	if accounts == nil {
		query = strings.NewReplacer("/*in:*/", "", "/*in:e.*/", "", "/*in:p.*/", "").Replace(query)
		args = []any{now, now, limit, until}
	} else {
		arr := t.textArray(accounts)
		query = strings.NewReplacer("/*in:*/", " AND c.account_id = ANY(?::text[])",
			"/*in:e.*/", " AND e.account_id = ANY(?::text[])", "/*in:p.*/", " AND p.account_id = ANY(?::text[])").Replace(query)
		args = []any{now, now, arr, arr, limit, arr, until, arr}
	}
	return queryAll(ctx, t, scanEvent, query, args...)
}

// claimEventsCitus reads the claimable candidates across the shards
// without a lock, then claims shard by shard (see the top of the file).
func (t *tx) claimEventsCitus(ctx context.Context, q storage.EventClaim) ([]storage.Event, error) {
	sharded, err := queryAll(ctx, t, scanShardedID,
		"SELECT DISTINCT account_id, get_shard_id_for_distribution_column('"+citusAccountsTable+"', account_id) FROM ("+
			"SELECT account_id FROM creditledger_events AS c WHERE "+strings.Replace(pgClaimable, "/*in:p.*/", "", 1)+" ORDER BY seq LIMIT ?) AS c",
		t.s.timeArg(q.Now), t.s.timeArg(q.Now), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("reading candidates: %w", err)
	}
	var out []storage.Event
	for _, g := range byShard(sharded) {
		if len(out) >= q.Limit {
			break
		}
		got, err := t.claimEvents(ctx, q, q.Limit-len(out), g)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// claimEvents is the claim on SQLite, in the store's write transaction:
// nothing else claims or writes meanwhile, so the rule is applied to what
// it reads.
func (t *sqliteTx) claimEvents(ctx context.Context, q storage.EventClaim) ([]storage.Event, error) {
	rows, err := t.db.QueryContext(ctx, "SELECT "+eventCols+" FROM creditledger_events WHERE acked_at IS NULL ORDER BY seq")
	if err != nil {
		return nil, err
	}
	// The rule, applied while reading: once the limit is reached the
	// rest could only be left out.
	p := picker{q: q, blocked: map[string]bool{}}
	for len(p.out) < q.Limit && rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			_ = rows.Close()
			return nil, err
		}
		p.add(e)
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	picked := p.out
	if len(picked) == 0 {
		return nil, nil
	}
	var j sqlValues
	for _, e := range picked {
		j.row()
		j.str(e.Account)
		j.int(e.Seq)
	}
	until := utc(q.Now.Add(q.Lease))
	_, err = t.db.ExecContext(ctx, j.statement(func(col func(int) string, values string) string {
		return fmt.Sprintf("UPDATE creditledger_events SET leased_until = %d, attempts = attempts + 1 "+
			"WHERE (account_id, seq) IN (SELECT %s, %s FROM (%s))", micros(until), col(0), col(1), values)
	}))
	if err != nil {
		return nil, err
	}
	for i := range picked {
		picked[i].LeasedUntil = &until
		picked[i].Attempts++
	}
	return picked, nil
}

// picker applies the claim rule to an outbox's unacknowledged events
// given by ascending Seq: per account, the events before the first one
// leased at q.Now, at most q.Limit in all, none of an account after one
// of its events was left out.
type picker struct {
	q       storage.EventClaim
	blocked map[string]bool
	out     []storage.Event
}

func (p *picker) add(e storage.Event) {
	if p.blocked[e.Account] {
		return
	}
	if e.Leased(p.q.Now) || len(p.out) == p.q.Limit {
		p.blocked[e.Account] = true
		return
	}
	p.out = append(p.out, e)
}

func sortEvents(es []storage.Event) {
	slices.SortFunc(es, func(a, b storage.Event) int {
		if a.Seq != b.Seq {
			if a.Seq < b.Seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Account, b.Account)
	})
}

// AckEvents marks events acknowledged (storage.EventStore). Events are
// named by account and ID.
func (s *Store) AckEvents(ctx context.Context, events []storage.AccountID, now time.Time) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	for _, e := range events {
		if err := checkTexts("event", e.Account, e.ID); err != nil {
			return 0, err
		}
	}
	var n int
	err := s.Tx(ctx, func(ctx context.Context, stx storage.Tx) error {
		n = 0
		switch t := stx.(type) {
		case *sqliteTx:
			var j sqlValues
			for _, e := range events {
				j.row()
				j.str(e.Account)
				j.str(e.ID)
			}
			k, err := t.execN(ctx, j.statement(func(col func(int) string, values string) string {
				return fmt.Sprintf("UPDATE creditledger_events SET acked_at = %d, leased_until = NULL "+
					"WHERE acked_at IS NULL AND (account_id, id) IN (SELECT %s, %s FROM (%s))", micros(now), col(0), col(1), values)
			}))
			n = int(k)
			return err
		case *tx:
			accounts := make([]string, len(events))
			ids := make([]string, len(events))
			for i, e := range events {
				accounts[i], ids[i] = e.Account, e.ID
			}
			prune, pruneArgs := t.citusPrune("e.account_id", uniqueSorted(accounts))
			got, err := queryAll(ctx, t, func(r rowScanner) (int64, error) { var v integer; err := r.Scan(&v); return int64(v), err },
				"WITH acked AS (UPDATE creditledger_events AS e SET acked_at = ?, leased_until = NULL "+
					"FROM unnest(?::text[], ?::text[]) AS k(account_id, id) "+
					"WHERE e.account_id = k.account_id AND e.id = k.id AND e.acked_at IS NULL"+prune+" RETURNING 1) "+
					"SELECT count(*) FROM acked",
				append([]any{s.timeArg(now), t.textArray(accounts), t.textArray(ids)}, pruneArgs...)...)
			if err == nil && len(got) == 1 {
				n = int(got[0])
			}
			return err
		}
		return fmt.Errorf("bunstore: ack events: unexpected transaction %T", stx)
	})
	if err != nil {
		return 0, fmt.Errorf("bunstore: acknowledging %d events: %w", len(events), err)
	}
	return n, nil
}

// PruneEvents deletes acknowledged events (storage.EventStore), and the
// notices of lots that expired before ackedBefore (no write looks them up
// again: only lots not yet expired are noticed).
func (s *Store) PruneEvents(ctx context.Context, ackedBefore time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	before := s.timeArg(ackedBefore)
	var n int64
	err := s.Tx(ctx, func(ctx context.Context, stx storage.Tx) error {
		n = 0
		switch t := stx.(type) {
		case *sqliteTx:
			k, err := t.execN(ctx, fmt.Sprintf("DELETE FROM creditledger_events WHERE (account_id, seq) IN "+
				"(SELECT account_id, seq FROM creditledger_events WHERE acked_at < %d ORDER BY seq LIMIT %d)", micros(ackedBefore), limit))
			if err != nil {
				return err
			}
			n = k
			_, err = t.execN(ctx, fmt.Sprintf("DELETE FROM creditledger_lot_notices WHERE EXISTS (SELECT 1 FROM creditledger_lots AS l "+
				"WHERE l.account_id = creditledger_lot_notices.account_id AND l.id = creditledger_lot_notices.lot_id AND l.expires_at < %d)",
				micros(ackedBefore)))
			return err
		case *tx:
			count := func(r rowScanner) (int64, error) { var v integer; err := r.Scan(&v); return int64(v), err }
			query := "WITH gone AS (DELETE FROM creditledger_events WHERE (account_id, seq) IN " +
				"(SELECT account_id, seq FROM creditledger_events WHERE acked_at < ? ORDER BY seq LIMIT ?) RETURNING 1) SELECT count(*) FROM gone"
			args := []any{before, limit}
			if s.citus.Load() {
				// A LIMIT's subquery cannot be pushed to the shards: on
				// Citus every acknowledged event before the instant goes.
				query = "WITH gone AS (DELETE FROM creditledger_events WHERE acked_at < ? RETURNING 1) SELECT count(*) FROM gone"
				args = []any{before}
			}
			got, err := queryAll(ctx, t, count, query, args...)
			if err != nil {
				return err
			}
			if len(got) == 1 {
				n = got[0]
			}
			return t.exec(ctx, "DELETE FROM creditledger_lot_notices AS n USING creditledger_lots AS l "+
				"WHERE l.account_id = n.account_id AND l.id = n.lot_id AND l.expires_at < ?", before)
		}
		return fmt.Errorf("bunstore: prune events: unexpected transaction %T", stx)
	})
	if err != nil {
		return 0, fmt.Errorf("bunstore: pruning events: %w", err)
	}
	return int(n), nil
}

// Events lists events newest first (storage.EventStore).
func (s *Store) Events(ctx context.Context, q storage.EventQuery) ([]storage.Event, error) {
	var where []string
	var args []any
	if q.Account != "" {
		if err := checkText("account id", q.Account); err != nil {
			return nil, err
		}
		where = append(where, "account_id = ?")
		args = append(args, q.Account)
	}
	if q.BeforeSeq > 0 {
		where = append(where, "seq < ?")
		args = append(args, q.BeforeSeq)
	}
	if q.Unacked {
		where = append(where, "acked_at IS NULL")
	}
	query := "SELECT " + eventCols + " FROM creditledger_events"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq DESC LIMIT ?"
	args = append(args, max(q.Limit, 0))
	out, err := queryAll(ctx, iconn{s.reader()}, scanEvent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: listing events: %w", err)
	}
	return out, nil
}

// EventStats sums up the outbox (storage.EventStore).
func (s *Store) EventStats(ctx context.Context, now time.Time) (*storage.EventStats, error) {
	n := s.timeArg(now)
	var st storage.EventStats
	var pending, leased, failed integer
	var oldest *time.Time
	rows, err := s.reader().QueryContext(ctx, "SELECT "+
		"coalesce(sum(CASE WHEN leased_until IS NULL OR leased_until <= ? THEN 1 ELSE 0 END), 0), "+
		"coalesce(sum(CASE WHEN leased_until > ? THEN 1 ELSE 0 END), 0), "+
		"coalesce(sum(CASE WHEN attempts > 1 OR (attempts > 0 AND (leased_until IS NULL OR leased_until <= ?)) THEN 1 ELSE 0 END), 0), "+
		"min(at) FROM creditledger_events WHERE acked_at IS NULL", n, n, n)
	if err != nil {
		return nil, fmt.Errorf("bunstore: event stats: %w", err)
	}
	defer func() { _ = rows.Close() }()
	if rows.Next() {
		if err := rows.Scan(&pending, &leased, &failed, nullTime{&oldest}); err != nil {
			return nil, fmt.Errorf("bunstore: event stats: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bunstore: event stats: %w", err)
	}
	st.Pending, st.Leased, st.Failed, st.OldestUnacked = int64(pending), int64(leased), int64(failed), oldest
	return &st, nil
}
