package bunstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/uptrace/bun/migrate"
)

// Errors of [OpenExisting] and [Store.CheckSchema], to be tested with
// errors.Is.
var (
	// ErrNoSchema: the database holds none of the ledger's tables (no
	// creditledger_migrations): it was never migrated, or it is another
	// database than the one meant.
	ErrNoSchema = errors.New("bunstore: the database has no creditledger tables")
	// ErrSchemaOutdated: the database holds the ledger's tables, but some
	// of the store's migrations have not been applied to it.
	ErrSchemaOutdated = errors.New("bunstore: the database's creditledger schema is not up to date")
)

// OpenExisting is [OpenWith] for a database that must already hold the
// ledger's schema, up to date: it creates nothing, neither a SQLite file
// nor a table. It is what a tool that only reads or writes records (a
// support command, a report) opens a database with, so that a mistyped
// DSN is an error rather than a new, empty ledger.
//
// A SQLite path must name an existing file (an error wrapping
// fs.ErrNotExist otherwise); a file: URL is opened with mode=rw unless it
// names a mode, so SQLite refuses to create it. A PostgreSQL connection
// error names each address and its error once. Once open, it runs
// [Store.CheckSchema] and returns its error (ErrNoSchema or
// ErrSchemaOutdated) after closing the database.
//
// Because nothing is left to migrate, the ledger's later call to
// [Store.Init] creates nothing either: it finds every migration applied
// and only records the scale if none was recorded.
func OpenExisting(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	if !isPostgresDSN(dsn) {
		var err error
		if dsn, err = existingSQLiteDSN(dsn); err != nil {
			return nil, err
		}
	}
	s, err := OpenWith(ctx, dsn, opts)
	if err != nil {
		return nil, tidyConnectError(err)
	}
	if err := s.CheckSchema(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// tidyConnectError drops the repeated lines of a connection error: pgx
// reports each attempt on a line of its own, and with sslmode=prefer (the
// default) it tries every address twice, with and without TLS, so a
// refused connection named the same address and error twice. One attempt
// left, the message is one line. errors.Is and errors.As see the original.
func tidyConnectError(err error) error {
	msg := err.Error()
	head, rest, ok := strings.Cut(msg, "\n\t")
	if !ok {
		return err
	}
	var lines []string
	for _, line := range strings.Split(rest, "\n\t") {
		if !slices.Contains(lines, line) {
			lines = append(lines, line)
		}
	}
	if len(lines) == 1 {
		return &sanitizedError{msg: head + " " + lines[0], err: err}
	}
	return &sanitizedError{msg: head + "\n\t" + strings.Join(lines, "\n\t"), err: err}
}

// existingSQLiteDSN returns dsn such that opening it cannot create a
// database: a file: URL gains mode=rw (unless it names a mode), a path
// must exist.
func existingSQLiteDSN(dsn string) (string, error) {
	path, query, hasQuery := strings.Cut(dsn, "?")
	if len(path) >= 5 && strings.EqualFold(path[:5], "file:") {
		if strings.Contains("&"+query, "&mode=") {
			return dsn, nil
		}
		if hasQuery {
			return dsn + "&mode=rw", nil
		}
		return dsn + "?mode=rw", nil
	}
	if path == "" || strings.HasPrefix(path, ":memory:") {
		return dsn, nil // nothing on disk to create; CheckSchema finds no tables
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("bunstore: open sqlite %s: %w (OpenExisting creates none)", redactDSN(path), fs.ErrNotExist)
	case err != nil:
		return "", fmt.Errorf("bunstore: open sqlite %s: %w", redactDSN(path), err)
	case fi.IsDir():
		return "", fmt.Errorf("bunstore: open sqlite %s: is a folder, not a database file", redactDSN(path))
	}
	return dsn, nil
}

// CheckSchema reports whether the database holds the ledger's schema with
// every migration of this store applied. It only reads: it returns an
// error wrapping ErrNoSchema when creditledger_migrations does not exist
// (in PostgreSQL's search_path), one wrapping ErrSchemaOutdated naming
// the migrations not applied yet (run [Store.Migrate]), or the database's
// error.
func (s *Store) CheckSchema(ctx context.Context) error {
	exists, err := s.tableExists(ctx, migrationsTable)
	if err != nil {
		return fmt.Errorf("bunstore: checking the schema: %w", err)
	}
	if !exists {
		return fmt.Errorf("%w (no %s table; run Store.Migrate to create them)", ErrNoSchema, migrationsTable)
	}
	migrator := migrate.NewMigrator(s.db, s.migrations,
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationLocksTable))
	ms, err := migrator.MigrationsWithStatus(ctx)
	if err != nil {
		return fmt.Errorf("bunstore: checking the schema: %w", err)
	}
	if pending := ms.Unapplied(); len(pending) > 0 {
		names := make([]string, len(pending))
		for i, m := range pending {
			names[i] = m.String()
		}
		return fmt.Errorf("%w: %d migrations not applied (%s); run Store.Migrate", ErrSchemaOutdated,
			len(pending), strings.Join(names, ", "))
	}
	return nil
}

// RecordedScale returns the scale the database's amounts were recorded
// with (by the first ledger that opened it, see [Store.Init]), and false
// when none is recorded yet: a database without the ledger's tables, or
// one migrated but never opened by a ledger. It only reads. A tool uses
// it to open a ledger with the scale the database already has.
func (s *Store) RecordedScale(ctx context.Context) (int32, bool, error) {
	exists, err := s.tableExists(ctx, "creditledger_meta")
	if err != nil || !exists {
		if err != nil {
			err = fmt.Errorf("bunstore: reading the scale: %w", err)
		}
		return 0, false, err
	}
	var values []string
	rows, err := s.db.QueryContext(ctx, "SELECT value FROM creditledger_meta WHERE key = 'scale'")
	if err != nil {
		return 0, false, fmt.Errorf("bunstore: reading the scale: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return 0, false, fmt.Errorf("bunstore: reading the scale: %w", err)
		}
		values = append(values, v)
	}
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("bunstore: reading the scale: %w", err)
	}
	if len(values) == 0 {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(values[0], 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("bunstore: the recorded scale %q is not a number: %w", values[0], err)
	}
	return int32(n), true, nil
}

// tableExists reports whether the database has a table of that name (on
// PostgreSQL, in the search_path), reading the catalog only.
func (s *Store) tableExists(ctx context.Context, name string) (bool, error) {
	var exists bool
	var err error
	if s.kind == postgres {
		err = s.db.QueryRowContext(ctx, "SELECT to_regclass(?) IS NOT NULL", name).Scan(&exists)
	} else {
		err = s.db.QueryRowContext(ctx,
			"SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&exists)
	}
	return exists, err
}
