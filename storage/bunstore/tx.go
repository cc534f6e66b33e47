package bunstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

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
	if s.bound {
		return s.savepointTx(ctx, fn)
	}
	if s.kind == sqlite {
		return s.retry(ctx, func() error { return s.sqliteTxRun(ctx, fn) })
	}
	if s.pgxMode() != viaBun {
		return s.retry(ctx, func() error { return s.pipelinedTx(ctx, fn) })
	}
	return s.retry(ctx, func() error {
		// The transaction itself is not tied to ctx: database/sql would
		// run COMMIT under it, and a cancellation while COMMIT is in
		// flight would report failure for a write the server committed.
		// Statements still run under ctx, and fn's result is checked
		// against ctx before COMMIT.
		btx, err := s.db.BeginTx(context.WithoutCancel(ctx), nil)
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
// new transaction if the store is bound to a *bun.DB or bun.Conn), with
// the dialect's Tx on it. On SQLite an Apply that failed after writing a
// part of its batch fails the call even if fn carries on.
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
	var t storage.Tx = &tx{s: s, idb: sp}
	failed := func() error { return nil }
	if s.kind == sqlite {
		st := &sqliteTx{s: s, db: sp}
		t, failed = st, func() error { return st.failed }
	}
	err = fn(ctx, t)
	if err == nil {
		err = failed()
	}
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

// lockThenLoad is LockAndLoad as two calls, LockAccounts then Load: on
// SQLite for what its one-statement read does not cover, and on Citus,
// where each statement names its accounts and so stays on their shards.
func lockThenLoad(ctx context.Context, t storage.Tx, ids []string, create bool, now time.Time, q storage.LoadQuery) ([]storage.Account, *storage.Loaded, error) {
	accounts, err := t.LockAccounts(ctx, ids, create, now)
	if err != nil {
		return nil, nil, err
	}
	loaded, err := t.Load(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	return accounts, loaded, nil
}
