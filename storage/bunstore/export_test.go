package bunstore

import (
	"context"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/creditledger/creditledger/storage"
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

// TxSettings returns, from inside tx (a transaction of a PostgreSQL
// store), the settings pinPlans sets, in its order.
func TxSettings(ctx context.Context, st storage.Tx) ([]string, error) {
	rows, err := st.(*tx).query(ctx,
		"SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan'), current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	got := make([]string, 4)
	if !rows.Next() {
		return nil, rows.Err()
	}
	if err := rows.Scan(&got[0], &got[1], &got[2], &got[3]); err != nil {
		return nil, err
	}
	return got, rows.Close()
}
