package bunstore

import (
	"context"
	"time"

	"github.com/uptrace/bun/migrate"
)

// MigrateUpTo runs the store's migrations named up to last (inclusive),
// as an older release of the store would have: the upgrade tests populate
// a database at an older schema with it.
func MigrateUpTo(ctx context.Context, s *Store, last string) error {
	ms := migrate.NewMigrations()
	for _, m := range s.migrations.Sorted() {
		if m.Name <= last {
			ms.Add(m)
		}
	}
	migrator := migrate.NewMigrator(s.db, ms,
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationLocksTable),
		migrate.WithMarkAppliedOnSuccess(true),
	)
	if err := migrator.Init(ctx); err != nil {
		return err
	}
	_, err := migrator.Migrate(ctx)
	return err
}

// TimeArg is a time as the store writes it (microseconds on SQLite).
func (s *Store) TimeArg(t time.Time) any { return s.timeArg(t) }

// NullTimeArg is TimeArg with nil for NULL.
func (s *Store) NullTimeArg(t *time.Time) any { return s.nullTimeArg(t) }

// DistributeWithoutMigrating distributes the schema as it is, as
// DistributeTables did when the schema was at an older version: the
// upgrade test on Citus starts from one.
func DistributeWithoutMigrating(ctx context.Context, s *Store) error { return s.distributeTables(ctx) }
