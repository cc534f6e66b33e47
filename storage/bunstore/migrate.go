package bunstore

import (
	"context"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun/migrate"
)

// migrationFS holds the schema, one directory per dialect, with matching
// file numbers: migrations/postgres/N_name.tx.up.sql and
// migrations/sqlite/N_name.tx.up.sql are the same version.
//
//go:embed migrations
var migrationFS embed.FS

const (
	migrationsTable     = "creditledger_migrations"
	migrationLocksTable = "creditledger_migration_locks"

	// advisoryLockClass is the first key of the PostgreSQL advisory lock
	// Migrate holds ("crlg"); the second is a hash of the schema migrated,
	// so stores in different schemas of one database migrate in parallel.
	advisoryLockClass = 0x63726c67

	// sqliteMigrateWait bounds how long Migrate on SQLite waits for
	// another migrator's lock before giving up.
	sqliteMigrateWait = time.Minute
)

// errMigrationLocked: another migrator holds the lock row of
// creditledger_migration_locks.
var errMigrationLocked = errors.New("bunstore: migrations are locked by another migrator")

// Migrate brings the schema up to date with the embedded migrations, through
// bun's migrator with the tables creditledger_migrations and
// creditledger_migration_locks. Running it again is a no-op.
//
// Several processes may migrate at once. On PostgreSQL, Migrate holds a
// session advisory lock on a dedicated connection while it works, so the
// others wait for it and then find nothing to do (the lock goes away with
// the connection if the process dies). On SQLite it takes bun's lock row and
// waits up to a minute for another migrator's, retrying while the database
// is busy; a lock row left by a crashed process must be deleted by hand.
//
// A bound store ([Store.WithTx]) migrates its database outside the host's
// transaction.
func (s *Store) Migrate(ctx context.Context) error {
	s.migrateMu.Lock()
	defer s.migrateMu.Unlock()

	migrator := migrate.NewMigrator(s.db, s.migrations,
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationLocksTable),
		// Record a migration only once it ran: a failed one runs again.
		migrate.WithMarkAppliedOnSuccess(true),
	)
	var err error
	if s.kind == postgres {
		err = s.migratePostgres(ctx, migrator)
	} else {
		err = s.migrateSQLite(ctx, migrator)
	}
	if err != nil {
		return fmt.Errorf("bunstore: migrate %s: %w", s.kind, err)
	}
	return nil
}

func (s *Store) migratePostgres(ctx context.Context, migrator *migrate.Migrator) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		_ = conn.Close()
	}()
	const key = "?, hashtext(coalesce(current_schema(), ''))"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")", advisoryLockClass); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer func() {
		_, uerr := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+key+")", advisoryLockClass)
		if uerr != nil {
			// A session lock lives as long as its connection: drop the
			// connection rather than return it to the pool still locked.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := migrator.Init(ctx); err != nil {
		return err
	}
	return s.runMigrations(ctx, migrator)
}

func (s *Store) migrateSQLite(ctx context.Context, migrator *migrate.Migrator) error {
	deadline := time.Now().Add(sqliteMigrateWait)
	for attempt := 0; ; attempt++ {
		err := s.migrateSQLiteOnce(ctx, migrator)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errMigrationLocked) && !isBusy(err) {
			return err
		}
		if time.Now().After(deadline) {
			if errors.Is(err, errMigrationLocked) {
				return fmt.Errorf("%w for over %s; if no migrator is running, delete the row of %s: %w",
					errMigrationLocked, sqliteMigrateWait, migrationLocksTable, err)
			}
			return err
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

func (s *Store) migrateSQLiteOnce(ctx context.Context, migrator *migrate.Migrator) (err error) {
	if err := migrator.Init(ctx); err != nil {
		return err
	}
	if err := migrator.Lock(ctx); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: %w", errMigrationLocked, err)
		}
		return err
	}
	defer func() {
		if uerr := migrator.Unlock(context.WithoutCancel(ctx)); uerr != nil && err == nil {
			err = fmt.Errorf("releasing the migration lock: %w", uerr)
		}
	}()
	return s.runMigrations(ctx, migrator)
}

func (s *Store) runMigrations(ctx context.Context, migrator *migrate.Migrator) error {
	group, err := migrator.Migrate(ctx)
	if err != nil {
		return err
	}
	if !group.IsZero() {
		names := make([]string, len(group.Migrations))
		for i, m := range group.Migrations {
			names[i] = m.String()
		}
		s.logger.InfoContext(ctx, "creditledger: applied migrations",
			slogDialect(s.kind), "group", group.ID, "migrations", names)
	}
	return nil
}
