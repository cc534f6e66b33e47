package mksaas

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// What the importer reads of a MkSaaS database (see REFERENCE.md): rows
// as they are, every zone-less timestamp already read in the source's
// zone.

// lotRow is a credit_transaction row that still has credits.
type lotRow struct {
	ID, User, Type, Description string
	Remaining                   int64
	ExpiresAt                   *time.Time // nil: never
	CreatedAt                   time.Time
}

// refreshRow is a scheduled grant MkSaaS made (MONTHLY_REFRESH,
// SUBSCRIPTION_RENEWAL, LIFETIME_MONTHLY).
type refreshRow struct {
	User, Type string
	CreatedAt  time.Time
}

// paymentRow is a payment row.
type paymentRow struct {
	ID, User, PriceID, Type, Interval, Status string
	PeriodStart                               *time.Time
	CreatedAt                                 time.Time
}

// source is everything read from MkSaaS.
type source struct {
	users     []string         // every user id met in the three tables, sorted
	balances  map[string]int64 // user_credit.current_credits
	lots      []lotRow
	refreshes []refreshRow
	payments  []paymentRow
}

// read reads the source tables, in one read-only REPEATABLE READ
// transaction so that every query sees the same state: a monthly refresh
// written between two of them must not be seen as granted (marking the
// period done) while its lot is missed. since bounds the scheduled grants
// read: only those recent enough to fall in a current period matter.
func read(ctx context.Context, src *sql.DB, loc *time.Location, since time.Time) (*source, error) {
	db, err := src.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin a read-only transaction on the source: %w", err)
	}
	defer func() { _ = db.Rollback() }()
	return readTx(ctx, db, loc, since)
}

func readTx(ctx context.Context, db *sql.Tx, loc *time.Location, since time.Time) (*source, error) {
	src := &source{balances: map[string]int64{}}
	zone := func(t time.Time) time.Time { return inZone(t, loc) }

	rows, err := db.QueryContext(ctx, `
		SELECT user_id FROM user_credit
		UNION SELECT user_id FROM credit_transaction
		UNION SELECT user_id FROM payment
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	if err := scanAll(rows, func() error {
		var u string
		if err := rows.Scan(&u); err != nil {
			return err
		}
		src.users = append(src.users, u)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}

	// user_credit has no unique key per user (a MkSaaS defect): the most
	// recently updated row wins.
	rows, err = db.QueryContext(ctx, `SELECT user_id, current_credits FROM user_credit ORDER BY updated_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read user_credit: %w", err)
	}
	if err := scanAll(rows, func() error {
		var u string
		var c int64
		if err := rows.Scan(&u, &c); err != nil {
			return err
		}
		src.balances[u] = c
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read user_credit: %w", err)
	}

	rows, err = db.QueryContext(ctx, `
		SELECT id, user_id, type, COALESCE(description, ''), remaining_amount, expiration_date, created_at
		FROM credit_transaction
		WHERE amount > 0 AND remaining_amount > 0
		ORDER BY user_id, created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read credit_transaction: %w", err)
	}
	if err := scanAll(rows, func() error {
		var r lotRow
		var exp sql.NullTime
		if err := rows.Scan(&r.ID, &r.User, &r.Type, &r.Description, &r.Remaining, &exp, &r.CreatedAt); err != nil {
			return err
		}
		r.CreatedAt = zone(r.CreatedAt)
		if exp.Valid {
			t := zone(exp.Time)
			r.ExpiresAt = &t
		}
		src.lots = append(src.lots, r)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read credit_transaction: %w", err)
	}

	rows, err = db.QueryContext(ctx, `
		SELECT user_id, type, created_at FROM credit_transaction
		WHERE type IN ('MONTHLY_REFRESH', 'SUBSCRIPTION_RENEWAL', 'LIFETIME_MONTHLY') AND created_at >= $1`, wall(since, loc))
	if err != nil {
		return nil, fmt.Errorf("read scheduled grants: %w", err)
	}
	if err := scanAll(rows, func() error {
		var r refreshRow
		if err := rows.Scan(&r.User, &r.Type, &r.CreatedAt); err != nil {
			return err
		}
		r.CreatedAt = zone(r.CreatedAt)
		src.refreshes = append(src.refreshes, r)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read scheduled grants: %w", err)
	}

	rows, err = db.QueryContext(ctx, `
		SELECT id, user_id, price_id, type, COALESCE(interval, ''), status, period_start, created_at
		FROM payment ORDER BY user_id, created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("read payment: %w", err)
	}
	if err := scanAll(rows, func() error {
		var p paymentRow
		var start sql.NullTime
		if err := rows.Scan(&p.ID, &p.User, &p.PriceID, &p.Type, &p.Interval, &p.Status, &start, &p.CreatedAt); err != nil {
			return err
		}
		p.CreatedAt = zone(p.CreatedAt)
		if start.Valid {
			t := zone(start.Time)
			p.PeriodStart = &t
		}
		src.payments = append(src.payments, p)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read payment: %w", err)
	}
	return src, nil
}

func scanAll(rows *sql.Rows, scan func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := scan(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// inZone reads the wall clock of a zone-less timestamp (which the driver
// hands over as that wall clock in UTC) in loc.
func inZone(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	return time.Date(y, m, d, hh, mm, ss, t.Nanosecond(), loc).UTC()
}

// wall is the inverse of inZone: the zone-less timestamp for instant t.
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	y, m, d := l.Date()
	hh, mm, ss := l.Clock()
	return time.Date(y, m, d, hh, mm, ss, l.Nanosecond(), time.UTC)
}
