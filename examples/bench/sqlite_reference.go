package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver the references use, as bunstore does
)

// The SQLite references: plain SQL through the same driver as bunstore's
// SQLite store (modernc, WAL, synchronous NORMAL, one connection, BEGIN
// IMMEDIATE), each in a database file of its own.

// openSQLiteRef opens a new reference database in dir.
func openSQLiteRef(dir, name string) (*sql.DB, error) {
	path := filepath.Join(dir, name)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func execAll(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// refSQLiteDistribute is the monthly grant for n accounts as an audited
// ledger must write it (a lot keyed for idempotency, one entry, the
// account's balance and next-grant time), set-based, in one transaction.
// It returns the time of the grant's statements.
func refSQLiteDistribute(ctx context.Context, n int) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "creditledger-bench-sqlite-ref")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	db, err := openSQLiteRef(dir, "distribute.db")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := execAll(ctx, db,
		`create table accounts(id text primary key, plan text not null, balance integer not null default 0, next_grant_at integer) strict`,
		`create table lots(id integer primary key, account_id text not null, source text not null, amount integer not null, remaining integer not null, expires_at integer, idempotency_key text not null unique, created_at integer not null) strict`,
		`create index lots_acct on lots(account_id, expires_at)`,
		`create table entries(id integer primary key, account_id text not null, lot_id integer not null, kind text not null, amount integer not null, balance_after integer not null, created_at integer not null) strict`,
		`create index entries_acct on entries(account_id, id)`,
	); err != nil {
		return 0, err
	}
	if _, err := db.ExecContext(ctx, `with recursive g(i) as (select 1 union all select i+1 from g where i < ?) insert into accounts(id, plan) select 'user_' || i, 'free' from g`, n); err != nil {
		return 0, err
	}
	now := time.Now().UnixMicro()
	start := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`insert into lots(account_id, source, amount, remaining, expires_at, idempotency_key, created_at) select id, 'monthly', 100, 100, ?, 'monthly:' || id || ':2026-11', ? from accounts`, []any{now + 30*86400*1e6, now}},
		{`insert into entries(account_id, lot_id, kind, amount, balance_after, created_at) select l.account_id, l.id, 'grant', l.amount, a.balance + l.amount, ? from lots l join accounts a on a.id = l.account_id`, []any{now}},
		{`update accounts set balance = balance + 100, next_grant_at = ?`, []any{now + 86400e6}},
	} {
		if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// sqliteRefConsume is the consume reference: one transaction per
// consume of one minor unit that debits the account, debits the lot that
// burns first and appends an entry with a unique key, over 1000 accounts
// (or one hot account), in a database of its own. run times a number of
// them, so that the benchmark can interleave them with its own consumes.
type sqliteRefConsume struct {
	dir string
	db  *sql.DB
	i   atomic.Int64 // consumes run so far: the next one's key
}

func newSQLiteRefConsume(ctx context.Context) (*sqliteRefConsume, error) {
	dir, err := os.MkdirTemp("", "creditledger-bench-sqlite-ref")
	if err != nil {
		return nil, err
	}
	r := &sqliteRefConsume{dir: dir}
	r.db, err = openSQLiteRef(dir, "consume.db")
	if err != nil {
		r.close()
		return nil, err
	}
	if err := execAll(ctx, r.db,
		`create table accounts(id text primary key, balance integer not null) strict`,
		`create table lots(id integer primary key, account_id text not null, remaining integer not null, expires_at integer, priority integer not null default 0, created_at integer not null) strict`,
		`create index lots_acct on lots(account_id, priority, expires_at)`,
		`create table entries(id integer primary key, account_id text not null, lot_id integer, amount integer not null, balance_after integer not null, idempotency_key text unique, created_at integer not null) strict`,
		`create index entries_acct on entries(account_id, id)`,
	); err != nil {
		r.close()
		return nil, err
	}
	const accounts = 1000
	if _, err := r.db.ExecContext(ctx, `with recursive g(i) as (select 0 union all select i+1 from g where i < ?) insert into accounts select 'user_' || i, 1000000000 from g`, accounts-1); err != nil {
		r.close()
		return nil, err
	}
	if _, err := r.db.ExecContext(ctx, `insert into lots(account_id, remaining, expires_at, created_at) select id, 1000000000, ?, 0 from accounts`, time.Now().Add(720*time.Hour).UnixMicro()); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *sqliteRefConsume) close() {
	if r.db != nil {
		_ = r.db.Close()
	}
	_ = os.RemoveAll(r.dir)
}

// run runs count consumes from workers goroutines (which queue for the
// one connection) and returns their total time and each one's latency.
// hot puts every consume on one account.
func (r *sqliteRefConsume) run(ctx context.Context, count, workers int, hot bool) (time.Duration, []time.Duration, error) {
	const accounts = 1000
	var lats latencies
	var left atomic.Int64
	left.Store(int64(count))
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, count/workers+1)
			defer func() { lats.add(lat) }()
			for left.Add(-1) >= 0 {
				i := r.i.Add(1) - 1
				a := fmt.Sprintf("user_%d", i%accounts)
				if hot {
					a = "user_7"
				}
				t := time.Now()
				if err := r.consume(ctx, a, fmt.Sprintf("k%d", i)); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				lat = append(lat, time.Since(t))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return 0, nil, firstErr
	}
	return el, lats.all, nil
}

// consume is one reference consume transaction on account a with key.
func (r *sqliteRefConsume) consume(ctx context.Context, a, key string) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`update accounts set balance = balance - 1 where id = ? and balance >= 1`, []any{a}},
		{`update lots set remaining = remaining - 1 where id = (select id from lots where account_id = ? and remaining > 0 and (expires_at is null or expires_at > ?) order by priority, expires_at is null, expires_at, created_at, id limit 1)`, []any{a, now}},
		{`insert into entries(account_id, lot_id, amount, balance_after, idempotency_key, created_at) values(?, null, -1, 0, ?, ?)`, []any{a, key, now}},
	} {
		if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}
