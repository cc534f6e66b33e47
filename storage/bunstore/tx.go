package bunstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/creditledger/creditledger/storage"
)

// Backoff between retries of a transaction: exponential from retryBase,
// capped at retryCap, each delay drawn from [d/2, d] so that transactions
// that collided once do not collide again in step.
const (
	retryBase = 10 * time.Millisecond
	retryCap  = time.Second
)

func backoff(attempt int) time.Duration {
	d := retryCap
	if attempt < 10 {
		d = min(retryBase<<attempt, retryCap)
	}
	return d/2 + rand.N(d/2+1)
}

// Tx runs fn in one transaction and commits it if fn returns nil; if fn
// returns an error, the transaction is rolled back and the error returned
// as is.
//
// On PostgreSQL the transaction is READ COMMITTED: every write path locks
// its accounts first (storage.Tx LockAccounts or ClaimAccounts) and reads
// lots and operations in later statements, which see what was committed
// before the lock was granted. On SQLite the store's write transactions
// are serialized by a writer lock of the store, in the process, in front of
// the connection pool, and each runs BEGIN IMMEDIATE on its connection
// (see the package's SQLite notes); a context cancelled before COMMIT rolls
// the transaction back and Tx returns the context's error.
//
// With pgx's driver (as with [Open]; decided at Init) the transaction runs
// on one pgx connection of the pool and is pipelined, with or without
// prepared statements (Options.NoPreparedStatements):
// BEGIN goes out with its first statement, and a batch given to
// Apply with COMMIT, so a Grant or Consume costs two round trips.
// Errors of that batch are then returned by Tx.
//
// When the database reports a serialization failure or deadlock (SQLSTATE
// 40001, 40P01) or a busy or locked SQLite database, Tx runs fn again in a
// new transaction, up to Options.MaxRetries times with exponential backoff
// and jitter, and gives up early when ctx is done. Once retries are
// exhausted the error wraps the last driver error and says how many times
// fn was retried. A store bound with [Store.WithTx] runs fn under a
// savepoint of the host's transaction instead, and never retries.
//
// After a failed statement PostgreSQL refuses every statement of the
// transaction until it ends, so fn should return once a Tx method returns an
// error.
func (s *Store) Tx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) error {
	if s.kind == sqlite {
		if s.bound {
			return s.sqliteSavepointTx(ctx, fn)
		}
		return s.retry(ctx, func() error { return s.sqliteTxRun(ctx, fn) })
	}
	if s.bound {
		return s.savepointTx(ctx, fn)
	}
	if s.pgxMode() != viaBun {
		return s.retry(ctx, func() error { return s.pipelinedTx(ctx, fn) })
	}
	return s.retry(ctx, func() error {
		// On PostgreSQL the transaction itself is not tied to ctx:
		// database/sql would run COMMIT under it, and a cancellation while
		// COMMIT is in flight would report failure for a write the server
		// committed. Statements still run under ctx, and fn's result is
		// checked against ctx before COMMIT. SQLite commits locally and
		// keeps database/sql's rollback on cancellation.
		txCtx := ctx
		if s.kind == postgres {
			txCtx = context.WithoutCancel(ctx)
		}
		btx, err := s.db.BeginTx(txCtx, nil)
		if err != nil {
			return err
		}
		committed := false
		defer func() {
			if !committed {
				_ = btx.Rollback()
			}
		}()
		if err := fn(ctx, &tx{s: s, idb: btx}); err != nil {
			return err
		}
		// database/sql rolls back a transaction whose context ended;
		// say so rather than "transaction has already been committed
		// or rolled back".
		if err := ctx.Err(); err != nil {
			return err
		}
		committed = true
		return btx.Commit()
	})
}

// retry runs attempt until it succeeds, fails with an error that retrying
// cannot help, runs out of retries or ctx is done. It is the store's one
// retry loop: serialization failures, deadlocks and a busy SQLite database
// are retried up to Options.MaxRetries times with backoff; a transaction
// that met a dead pooled connection at its first round trip
// (staleConnError) runs again at once on another, up to staleConnRetries
// times.
func (s *Store) retry(ctx context.Context, attempt func() error) error {
	stale := 0
	for n := 0; ; {
		err := attempt()
		var se *staleConnError
		if errors.As(err, &se) {
			if stale >= staleConnRetries || ctx.Err() != nil {
				return se.err
			}
			stale++
			s.logger.DebugContext(ctx, "creditledger: transaction met a dead pooled connection; running it on another",
				slogDialect(s.kind), "error", se.err)
			continue
		}
		if err == nil || !isRetryable(err) {
			return err
		}
		if n >= s.retries {
			if n == 0 {
				return err
			}
			return fmt.Errorf("bunstore: transaction failed after %d retries: %w", n, err)
		}
		delay := backoff(n)
		s.logger.DebugContext(ctx, "creditledger: retrying transaction",
			slogDialect(s.kind), "retry", n+1, "delay", delay, "error", err)
		if serr := sleep(ctx, delay); serr != nil {
			return fmt.Errorf("bunstore: transaction not retried after %d retries: %w (last error: %w)", n, serr, err)
		}
		n++
	}
}

// savepointTx runs fn under a savepoint of a bound store's transaction (a
// new transaction if the store is bound to a *bun.DB or bun.Conn).
func (s *Store) savepointTx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The savepoint must be released or rolled back even if ctx ends
	// while fn runs: the host's transaction goes on.
	sp, err := s.idb.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return fmt.Errorf("bunstore: savepoint in the host transaction: %w", err)
	}
	err = fn(ctx, &tx{s: s, idb: sp})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if rerr := sp.Rollback(); rerr != nil {
			return fmt.Errorf("%w (and rolling back to the savepoint failed: %w)", err, rerr)
		}
		return err
	}
	return sp.Commit()
}

// tx is a storage.Tx on a bun transaction, or on one pgx connection
// (pipelined; see pipeline.go).
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
}

var _ storage.Tx = (*tx)(nil)

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
	s := t.s
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
	if s.citus.Load() {
		return t.lockAccountsCitus(ctx, ids) // pg_claim_citus.go
	}
	in, arg := t.inList("id", ids)
	query := "SELECT " + accountCols + " FROM creditledger_accounts WHERE " + in + " ORDER BY id"
	if s.kind == postgres {
		query += " FOR UPDATE"
	}
	accounts, err := queryAll(ctx, t, scanAccount, query, arg)
	if err != nil {
		return nil, fmt.Errorf("bunstore: locking accounts: %w", err)
	}
	return accounts, nil
}

func (t *tx) createAccounts(ctx context.Context, ids []string, now time.Time) error {
	s := t.s
	if s.kind == postgres {
		return t.exec(ctx, `INSERT INTO creditledger_accounts (id, created_at)
SELECT id, ?::timestamptz FROM unnest(?::text[]) AS u(id)
ON CONFLICT (id) DO NOTHING`, s.timeArg(now), t.textArray(ids))
	}
	created := s.timeArg(now)
	for chunk := range chunks(ids, sqliteChunkRows) {
		rows := make([]string, len(chunk))
		args := make([]any, 0, 2*len(chunk))
		for i, id := range chunk {
			rows[i] = "(?, ?)"
			args = append(args, id, created)
		}
		if _, err := t.idb.ExecContext(ctx, "INSERT INTO creditledger_accounts (id, created_at) VALUES "+
			strings.Join(rows, ", ")+" ON CONFLICT (id) DO NOTHING", args...); err != nil {
			return err
		}
	}
	return nil
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
	s := t.s
	due, dueArgs := claimDue(q, s.timeArg(q.Now))
	args := append(append([]any{q.After}, dueArgs...), q.Limit)
	query := "SELECT " + accountCols + " FROM creditledger_accounts WHERE id > ? AND " + due + " ORDER BY id LIMIT ?"
	if s.kind == postgres {
		query += " FOR UPDATE"
		if !q.Wait {
			query += " SKIP LOCKED"
		}
	}
	accounts, err := queryAll(ctx, t, scanAccount, query, args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: claiming accounts: %w", err)
	}
	return accounts, nil
}

// Load returns the lots with remaining > 0 of q.LotsOf (by ID) and the
// operations whose keys are among q.Keys: one query for each, none for an
// empty list.
func (t *tx) Load(ctx context.Context, q storage.LoadQuery) (*storage.Loaded, error) {
	out := &storage.Loaded{}
	if ids := uniqueSorted(q.LotsOf); len(ids) > 0 {
		in, arg := t.inList("account_id", ids)
		lots, err := queryAll(ctx, t, scanLot,
			"SELECT "+lotCols+" FROM creditledger_lots WHERE "+in+" AND remaining > 0 ORDER BY id", arg)
		if err != nil {
			return nil, fmt.Errorf("bunstore: loading lots: %w", err)
		}
		out.Lots = lots
	}
	if keys := uniqueKeys(q.Keys); len(keys) > 0 {
		ops, err := t.loadCalls(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("bunstore: loading calls by key: %w", err)
		}
		out.Operations = ops
	}
	if err := t.loadHolds(ctx, q, out); err != nil {
		return nil, err
	}
	return out, nil
}

// loadCalls reads the first entries of the calls of keys.
func (t *tx) loadCalls(ctx context.Context, keys []storage.AccountKey) ([]storage.Operation, error) {
	if t.s.kind == postgres {
		accounts, ks := splitKeys(keys)
		prune, pruneArgs := t.citusPrune("account_id", accounts)
		return queryAll(ctx, t, scanCall, "SELECT "+callCols+
			" FROM creditledger_entries WHERE (account_id, idempotency_key) IN (SELECT * FROM unnest(?::text[], ?::text[]))"+prune+" ORDER BY operation_id",
			append([]any{t.textArray(accounts), t.textArray(ks)}, pruneArgs...)...)
	}
	var out []storage.Operation
	for chunk := range chunks(keys, sqliteChunkRows) {
		values, args := valuesRows(0, len(chunk), func(i int) []any { return []any{chunk[i].Account, chunk[i].Key} })
		ops, err := queryAll(ctx, t, scanCall, "SELECT "+callCols+
			" FROM creditledger_entries WHERE (account_id, idempotency_key) IN (VALUES "+values+") ORDER BY operation_id", args...)
		if err != nil {
			return nil, err
		}
		out = append(out, ops...)
	}
	return out, nil
}

// uniqueKeys returns the distinct keys of ks with a key, sorted.
func uniqueKeys(ks []storage.AccountKey) []storage.AccountKey {
	out := make([]storage.AccountKey, 0, len(ks))
	for _, k := range ks {
		if k.Key != "" {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b storage.AccountKey) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return slices.Compact(out)
}

// splitKeys returns the accounts and keys of ks as two columns.
func splitKeys(ks []storage.AccountKey) (accounts, keys []string) {
	accounts, keys = make([]string, len(ks)), make([]string, len(ks))
	for i, k := range ks {
		accounts[i], keys[i] = k.Account, k.Key
	}
	return accounts, keys
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

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
