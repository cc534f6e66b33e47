package bunstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/creditledger/creditledger/storage"
)

// tx is a storage.Tx on PostgreSQL: on a bun transaction (a bound store,
// another driver than pgx's), or on one pgx connection (pipelined; see
// pg_pipeline.go).
type tx struct {
	s   *Store
	idb bun.IConn // the bun transaction; nil when pipelined

	// Pipelined transactions only (their statements take Go slices for
	// arrays; see pgArray.arg).
	pc      *pgx.Conn
	begun   bool          // BEGIN was sent
	sent    bool          // anything was sent
	stale   bool          // the first round trip found the connection dead
	pending *pendingApply // Apply waiting to go out with COMMIT
	tracer  pgx.QueryTracer
	pinned  bool // pinPlans was sent
}

var _ storage.Tx = (*tx)(nil)

// Load reads q (see load).
func (t *tx) Load(ctx context.Context, q storage.LoadQuery) (*storage.Loaded, error) {
	return load(ctx, t, q)
}

// calls implements loader: one statement over two text[] arguments.
func (t *tx) calls(ctx context.Context, keys []storage.AccountKey) ([]storage.Operation, error) {
	accounts, ks := splitKeys(keys)
	prune, pruneArgs := t.citusPrune("account_id", accounts)
	return queryAll(ctx, t, scanCall, "SELECT "+callCols+
		" FROM creditledger_entries WHERE (account_id, idempotency_key) IN (SELECT * FROM unnest(?::text[], ?::text[]))"+prune+" ORDER BY operation_id",
		append([]any{t.textArray(accounts), t.textArray(ks)}, pruneArgs...)...)
}

// LockAccounts locks ids (in ID order) for the rest of the transaction and
// returns those that exist, by ID. With create, missing ones are inserted
// first (Balance 0, no plan, CreatedAt now) in one statement, and the lock
// is taken by a second statement, so that later statements read what the
// holders of the locks committed.
func (t *tx) LockAccounts(ctx context.Context, ids []string, create bool, now time.Time) ([]storage.Account, error) {
	ids = uniqueSorted(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	if create {
		for _, id := range ids {
			if err := checkText("account id", id); err != nil {
				return nil, err
			}
		}
		if err := t.createAccounts(ctx, ids, now); err != nil {
			return nil, fmt.Errorf("bunstore: creating accounts: %w", err)
		}
	}
	if t.s.citus.Load() {
		return t.lockAccountsCitus(ctx, ids) // pg_claim_citus.go
	}
	in, arg := t.inList("id", ids)
	query := "SELECT " + accountCols + " FROM creditledger_accounts WHERE " + in + " ORDER BY id FOR UPDATE"
	accounts, err := queryAll(ctx, t, scanAccount, query, arg)
	if err != nil {
		return nil, fmt.Errorf("bunstore: locking accounts: %w", err)
	}
	return accounts, nil
}

func (t *tx) createAccounts(ctx context.Context, ids []string, now time.Time) error {
	return t.exec(ctx, `INSERT INTO creditledger_accounts (id, created_at)
SELECT id, ?::timestamptz FROM unnest(?::text[]) AS u(id)
ON CONFLICT (id) DO NOTHING`, utc(now), t.textArray(ids))
}

// ClaimAccounts locks and returns up to q.Limit accounts with ID > q.After,
// by ID, whose NextGrantAt (q.Grants) or NextExpiryAt (q.Expiry) is at or
// before q.Now. On PostgreSQL, accounts another transaction has locked are
// skipped (FOR UPDATE SKIP LOCKED), or waited for with q.Wait (FOR
// UPDATE: PostgreSQL then re-checks the condition on the row's newest
// version and leaves out one that is no longer due). It returns nothing when q.Limit <= 0 or
// neither q.Grants nor q.Expiry is set.
func (t *tx) ClaimAccounts(ctx context.Context, q storage.ClaimQuery) ([]storage.Account, error) {
	if q.Limit <= 0 || (!q.Grants && !q.Expiry) {
		return nil, nil
	}
	if t.s.citus.Load() {
		return t.claimCitus(ctx, q) // pg_claim_citus.go
	}
	due, dueArgs := claimDue(q, utc(q.Now))
	args := append(append([]any{q.After}, dueArgs...), q.Limit)
	query := "SELECT " + accountCols + " FROM creditledger_accounts WHERE id > ? AND " + due + " ORDER BY id LIMIT ?"
	query += " FOR UPDATE"
	if !q.Wait {
		query += " SKIP LOCKED"
	}
	accounts, err := queryAll(ctx, t, scanAccount, query, args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: claiming accounts: %w", err)
	}
	return accounts, nil
}

// claimDue is the condition of a claim's due accounts, "(next_grant_at <=
// ? OR next_expiry_at <= ?)" or one of the two, and its arguments.
func claimDue(q storage.ClaimQuery, now any) (string, []any) {
	var due []string
	var args []any
	if q.Grants {
		due = append(due, "next_grant_at <= ?")
		args = append(args, now)
	}
	if q.Expiry {
		due = append(due, "next_expiry_at <= ?")
		args = append(args, now)
	}
	return "(" + strings.Join(due, " OR ") + ")", args
}
