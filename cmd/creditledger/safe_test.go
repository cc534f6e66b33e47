package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
)

// The read commands on a database without the ledger's tables say so,
// exit 1 and create nothing, on SQLite (an empty file) and PostgreSQL (an
// empty schema); so do the writes.
func TestNoLedgerTables(t *testing.T) {
	t.Parallel()
	eachEmptyDB(t, func(t *testing.T, kind, dsn string) {
		if kind == "sqlite" {
			require.NoError(t, os.WriteFile(dsn, nil, 0o600)) // SQLite opens an empty file
		}
		for _, args := range [][]string{
			{"verify"}, {"balance", "alice"}, {"entries", "alice"}, {"holds", "alice"},
			{"distribute"}, {"grant", "-key", "k", "alice", "5"}, {"consume", "alice", "5"},
		} {
			r := runCmd(t, append([]string{args[0], "-db", dsn}, args[1:]...)...)
			require.Equal(t, exitFailure, r.code, "%q: %s", args, r.stderr)
			require.Contains(t, r.stderr, "has no creditledger tables", args)
			require.Contains(t, r.stderr, "creditledger: database "+map[string]string{"sqlite": "sqlite /", "postgres": "postgres://"}[kind], args)
			require.Empty(t, r.stdout, args)
		}
		require.Empty(t, testdb.LedgerTables(t, testdb.Open(t, dsn)), "a command created tables")

		r := runCmd(t, "migrate", "-db", dsn)
		require.Equal(t, exitOK, r.code, r.stderr)
		r = runCmd(t, "verify", "-db", dsn)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "verified 0 accounts")
	})
}

// A SQLite path that names no file is refused by every command but
// migrate, and not created.
func TestMissingSQLiteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	typo := filepath.Join(dir, "ledgr.db")
	for _, args := range [][]string{{"verify"}, {"balance", "alice"}, {"entries", "alice"}, {"grant", "-key", "k", "alice", "5"}} {
		r := runCmd(t, append([]string{args[0], "-db", typo}, args[1:]...)...)
		require.Equal(t, exitFailure, r.code, "%q", args)
		require.Contains(t, r.stderr, typo+": file does not exist", args)
		require.Contains(t, r.stderr, "'creditledger migrate' creates a database", args)
	}
	for _, dsn := range []string{"file:" + typo, "file:" + typo + "?_pragma=busy_timeout(100)"} {
		r := runCmd(t, "verify", "-db", dsn)
		require.Equal(t, exitFailure, r.code, dsn)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a read created the file")
}

// The database line on stderr never shows a password: not of a URL, its
// parameters, or a key=value string given where a URL was expected. A
// connection error names the address once, from the store's message.
func TestDatabaseShownWithoutPassword(t *testing.T) {
	t.Parallel()
	r := runCmd(t, "balance", "-db", "postgres://someone:s3cret@127.0.0.1:1/none?connect_timeout=1&password=s3cret", "alice")
	require.Equal(t, exitFailure, r.code)
	require.NotContains(t, r.stderr, "s3cret")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.Equal(t, "creditledger: database postgres://someone:xxxxx@127.0.0.1:1/none", lines[0])
	require.Len(t, lines, 2, r.stderr)
	require.True(t, strings.HasPrefix(lines[1], "creditledger balance: bunstore: open postgres "), lines[1])
	require.NotContains(t, lines[1], "open postgres://", "the command adds no second copy of the address")
	require.Equal(t, 1, strings.Count(lines[1], "dial tcp 127.0.0.1:1"), "each attempt once: %s", lines[1])

	for dsn, shown := range map[string]string{
		"host=db user=app password=s3cret dbname=app": "sqlite host=db user=app password=xxxxx dbname=app",
		"host=db password='s3 cret' dbname=app":       "sqlite host=db password=xxxxx dbname=app",
	} {
		r := runCmd(t, "verify", "-db", dsn)
		require.Equal(t, exitFailure, r.code, dsn)
		require.NotContains(t, r.stderr, "s3cret", dsn)
		require.Contains(t, r.stderr, "creditledger: database "+shown+"\n", dsn)
	}
}

// A database a migration behind is refused with the migration's name and
// the command that applies it, and the read does not apply it itself.
func TestSchemaBehind(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, dsn string) {
		store := testdb.Open(t, dsn)
		var last string
		require.NoError(t, store.DB().QueryRowContext(t.Context(), "SELECT name FROM creditledger_migrations ORDER BY name DESC LIMIT 1").Scan(&last))
		_, err := store.DB().ExecContext(t.Context(), "DELETE FROM creditledger_migrations WHERE name = ?", last)
		require.NoError(t, err)

		r := runCmd(t, "verify", "-db", dsn)
		require.Equal(t, exitFailure, r.code)
		require.Contains(t, r.stderr, "1 migrations not applied ("+last)
		require.Contains(t, r.stderr, "'creditledger migrate' applies them")
		var n int
		require.NoError(t, store.DB().QueryRowContext(t.Context(), "SELECT count(*) FROM creditledger_migrations WHERE name = ?", last).Scan(&n))
		require.Zero(t, n, "verify migrated")
	})
}

func TestDescribeDSN(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]string{
		"postgres://app:s3cret@db:5432/app?sslmode=disable&password=s3cret": "postgres://app:xxxxx@db:5432/app",
		"POSTGRESQL://app:s3cret@db/app":                                    "postgresql://app:xxxxx@db/app",
		"postgres://app@db/app":                                             "postgres://app@db/app",
		"postgres://app:s3cret@db:port/app":                                 "postgres (unparsable URL)",
		"/var/lib/app/credits.db":                                           "sqlite /var/lib/app/credits.db",
		"file:credits.db?_pragma=busy_timeout(100)":                         "sqlite file:credits.db",
		"user=app PASSWORD = s3cret host=db":                                "sqlite user=app PASSWORD = xxxxx host=db",
	} {
		require.Equal(t, want, describeDSN(dsn), dsn)
	}
}
