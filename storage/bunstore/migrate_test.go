package bunstore_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

var tables = []string{
	"creditledger_meta",
	"creditledger_accounts",
	"creditledger_lots",
	"creditledger_entries",
	"creditledger_migrations",
	"creditledger_migration_locks",
}

// migrationCount is how many migrations Migrate records: one per SQL
// file pair of a dialect, and the Go migration that hashes the history of
// schema 3.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/postgres/*.up.sql")
	require.NoError(t, err)
	sqlite, err := filepath.Glob("migrations/sqlite/*.up.sql")
	require.NoError(t, err)
	require.Len(t, sqlite, len(files), "the dialects have the same migrations")
	return len(files) + 1
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := open(t, db.dsn(t))
		require.NoError(t, s.Migrate(ctx))
		for _, table := range tables {
			count(t, s, table) // exists
		}
		applied := count(t, s, "creditledger_migrations")
		require.Equal(t, migrationCount(t), applied, "every migration is recorded")
		require.Zero(t, count(t, s, "creditledger_migration_locks"), "the lock is released")

		require.NoError(t, s.Migrate(ctx), "migrating again is a no-op")
		require.Equal(t, applied, count(t, s, "creditledger_migrations"))
	})
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		dsn := db.dsn(t)
		const migrators = 4
		stores := make([]*bunstore.Store, migrators)
		for i := range stores {
			stores[i] = open(t, dsn) // a *bun.DB of its own each
		}
		var wg sync.WaitGroup
		errs := make([]error, migrators)
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Init(ctx, 2)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, migrationCount(t), count(t, stores[0], "creditledger_migrations"))
		require.Equal(t, 1, count(t, stores[0], "creditledger_meta"))
	})
}

func TestInitScaleMismatch(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		dsn := db.dsn(t)
		s := open(t, dsn)
		require.NoError(t, s.Init(ctx, 2))
		require.NoError(t, s.Init(ctx, 2), "the same scale again is fine")

		err := s.Init(ctx, 0)
		require.ErrorIs(t, err, storage.ErrScaleMismatch)
		require.Contains(t, err.Error(), "scale 2")
		require.Contains(t, err.Error(), "scale 0")

		// Another handle on the same database sees the recorded scale.
		err = open(t, dsn).Init(ctx, 6)
		require.ErrorIs(t, err, storage.ErrScaleMismatch)
	})
}

func TestBoundInitWithoutMigrations(t *testing.T) {
	t.Parallel()
	eachPlainDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := open(t, db.dsn(t))
		tx, err := s.DB().BeginTx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		err = s.WithTx(tx).Init(ctx, 0)
		require.ErrorContains(t, err, "Store.Migrate", "a bound store does not migrate; the error says what to do")
		// The savepoint kept the host's transaction usable.
		var one int
		require.NoError(t, tx.QueryRowContext(ctx, "SELECT 1").Scan(&one))
	})
}
