package bunstore_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// OpenExisting refuses a database without the ledger's tables and creates
// none; it opens a migrated one, and refuses one a migration behind,
// naming the migration.
func TestOpenExisting(t *testing.T) {
	t.Parallel()
	eachPlainDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		dsn := db.dsn(t)
		if db.name == "sqlite" {
			// An empty file: SQLite opens it, and it has no tables.
			require.NoError(t, os.WriteFile(dsn, nil, 0o600))
		}
		_, err := bunstore.OpenExisting(ctx, dsn, nil)
		require.ErrorIs(t, err, bunstore.ErrNoSchema)
		require.Contains(t, err.Error(), "no creditledger_migrations table")
		raw := open(t, dsn)
		require.Empty(t, testdb.LedgerTables(t, raw), "OpenExisting created tables")

		scale, ok, err := raw.RecordedScale(ctx)
		require.NoError(t, err)
		require.False(t, ok, "no tables, no scale")
		require.Zero(t, scale)
		require.NoError(t, raw.Migrate(ctx))
		_, ok, err = raw.RecordedScale(ctx)
		require.NoError(t, err)
		require.False(t, ok, "migrated, but no ledger recorded a scale yet")
		require.NoError(t, raw.Init(ctx, 2))
		scale, ok, err = raw.RecordedScale(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, int32(2), scale)

		s, err := bunstore.OpenExisting(ctx, dsn, nil)
		require.NoError(t, err)
		require.NoError(t, s.CheckSchema(ctx))
		require.NoError(t, s.Init(ctx, 2), "nothing to migrate, the scale matches")
		require.NoError(t, s.Close())

		// Forget the last migration: the schema is behind.
		var last string
		require.NoError(t, raw.DB().QueryRowContext(ctx, "SELECT name FROM creditledger_migrations ORDER BY name DESC LIMIT 1").Scan(&last))
		_, err = raw.DB().ExecContext(ctx, "DELETE FROM creditledger_migrations WHERE name = ?", last)
		require.NoError(t, err)
		_, err = bunstore.OpenExisting(ctx, dsn, nil)
		require.ErrorIs(t, err, bunstore.ErrSchemaOutdated)
		require.Contains(t, err.Error(), last)
		require.False(t, errors.Is(err, bunstore.ErrNoSchema))
	})
}

// A SQLite path or file: URL that names no file is an error, and no file
// appears.
func TestOpenExistingSQLiteMissingFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.db")
	for _, dsn := range []string{path, "file:" + path, "file:" + path + "?_pragma=busy_timeout(100)"} {
		_, err := bunstore.OpenExisting(ctx, dsn, nil)
		require.Error(t, err, dsn)
		if dsn == path {
			require.ErrorIs(t, err, fs.ErrNotExist)
			require.Contains(t, err.Error(), path)
		}
		_, statErr := os.Stat(path)
		require.ErrorIs(t, statErr, fs.ErrNotExist, "%s created the file", dsn)
	}
	_, err := bunstore.OpenExisting(ctx, dir, nil)
	require.ErrorContains(t, err, "is a folder")
}
