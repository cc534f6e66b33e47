// Package mksaastest builds MkSaaS-shaped PostgreSQL tables for the
// tests of the importer and of the command: the three tables it reads,
// as MkSaaS's Drizzle schema declares them (ids as text, timestamps
// without time zone), in a schema of the test's own.
package mksaastest

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/creditledger/creditledger/internal/testdb"
)

// Schema is the DDL of the tables the importer reads.
const Schema = `
CREATE TABLE user_credit (
	id text PRIMARY KEY,
	user_id text NOT NULL,
	current_credits integer NOT NULL DEFAULT 0,
	last_refresh_at timestamp,
	created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now()
);
CREATE TABLE credit_transaction (
	id text PRIMARY KEY,
	user_id text NOT NULL,
	type text NOT NULL,
	description text,
	amount integer NOT NULL,
	remaining_amount integer,
	payment_id text,
	expiration_date timestamp,
	expiration_date_processed_at timestamp,
	created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now()
);
CREATE TABLE payment (
	id text PRIMARY KEY,
	price_id text NOT NULL,
	type text NOT NULL,
	interval text,
	user_id text NOT NULL,
	customer_id text NOT NULL,
	subscription_id text,
	session_id text,
	status text NOT NULL,
	period_start timestamp,
	period_end timestamp,
	cancel_at_period_end boolean,
	trial_start timestamp,
	trial_end timestamp,
	created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now()
);`

// DB is a MkSaaS database of a test.
type DB struct {
	DSN string
	SQL *sql.DB
	t   testing.TB
}

// New creates the tables in a fresh schema (skipped without PostgreSQL,
// see testdb) and returns its DSN and a connection, closed with the test.
func New(t testing.TB) *DB {
	t.Helper()
	dsn := testdb.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("mksaastest: %v", err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(context.Background(), Schema); err != nil {
		t.Fatalf("mksaastest: create tables: %v", err)
	}
	return &DB{DSN: dsn, SQL: db, t: t}
}

// Wall is the zone-less timestamp MkSaaS would store for t on a server
// whose clock runs in loc.
func Wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

func (d *DB) exec(q string, args ...any) {
	d.t.Helper()
	if _, err := d.SQL.ExecContext(context.Background(), q, args...); err != nil {
		d.t.Fatalf("mksaastest: %s: %v", q, err)
	}
}

// Balance inserts a user_credit row.
func (d *DB) Balance(user string, credits int64) {
	d.t.Helper()
	d.exec(`INSERT INTO user_credit (id, user_id, current_credits) VALUES ($1, $2, $3)`, "uc-"+user, user, credits)
}

// Tx inserts a credit_transaction row. remaining < 0 stores NULL (the
// negative rows); expires nil stores NULL (never). Times are wall clocks
// as stored (see Wall).
func (d *DB) Tx(id, user, typ string, amount, remaining int64, expires *time.Time, created time.Time) {
	d.t.Helper()
	var rem any
	if remaining >= 0 {
		rem = remaining
	}
	var exp any
	if expires != nil {
		exp = *expires
	}
	d.exec(`INSERT INTO credit_transaction (id, user_id, type, description, amount, remaining_amount, expiration_date, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`, id, user, typ, fmt.Sprintf("%s for %s", typ, user), amount, rem, exp, created)
}

// Payment inserts a payment row; interval "" stores NULL, as does a zero
// periodStart.
func (d *DB) Payment(id, user, priceID, typ, interval, status string, periodStart, created time.Time) {
	d.t.Helper()
	var iv, ps any
	if interval != "" {
		iv = interval
	}
	if !periodStart.IsZero() {
		ps = periodStart
	}
	d.exec(`INSERT INTO payment (id, price_id, type, interval, user_id, customer_id, status, period_start, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`, id, priceID, typ, iv, user, "cus-"+user, status, ps, created)
}
