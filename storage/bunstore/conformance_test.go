package bunstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
	"github.com/creditledger/creditledger/storage/storetest"
)

// The suite on each path a bunstore statement can take: SQLite's, and on
// PostgreSQL pipelined pgx with prepared statements, with unnamed ones
// (NoPreparedStatements, as behind PgBouncer in transaction mode before
// 1.21), and bun's SQL text (a store bound with WithTx); each bound store
// bound both to a *bun.DB (a transaction per Tx) and to a host's bun.Tx
// (every Tx a savepoint of it).

var (
	serialized = storetest.Capabilities{}
	concurrent = storetest.Capabilities{ConcurrentTx: true}
	oneTx      = storetest.Capabilities{OneTransaction: true}
)

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) storage.Store { return open(t, sqlitePath(t)) }, serialized)
}

func TestConformanceSQLiteBound(t *testing.T) {
	t.Parallel()
	exerciseBound(t, sqlitePath, serialized)
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) storage.Store { return open(t, postgresDSN(t)) }, concurrent)
}

// NoPreparedStatements: pgx's unnamed statements, pipelined as with
// prepared ones.
func TestConformancePostgresUnnamed(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) storage.Store {
		return testdb.OpenWith(t, postgresDSN(t), &bunstore.Options{NoPreparedStatements: true})
	}, concurrent)
}

// A bound store's statements are SQL text formatted by bun.
func TestConformancePostgresBound(t *testing.T) {
	t.Parallel()
	exerciseBound(t, postgresDSN, concurrent)
}

// exerciseBound runs the suite on stores of dsn bound to their own
// *bun.DB (with caps) and to a host's transaction.
func exerciseBound(t *testing.T, dsn func(testing.TB) string, caps storetest.Capabilities) {
	t.Run("DB", func(t *testing.T) {
		t.Parallel()
		storetest.Exercise(t, func(t *testing.T) storage.Store { return boundToDB(t, open(t, dsn(t))) }, caps)
	})
	t.Run("Tx", func(t *testing.T) {
		t.Parallel()
		storetest.Exercise(t, func(t *testing.T) storage.Store { return boundToTx(t, open(t, dsn(t))) }, oneTx)
	})
}

// boundToDB returns s, migrated, bound to its own *bun.DB: each Tx begins
// a transaction of its own, through bun.
func boundToDB(t *testing.T, s *bunstore.Store) storage.Store {
	t.Helper()
	require.NoError(t, s.Migrate(t.Context()))
	return s.WithTx(s.DB())
}

// boundToTx returns s, migrated, bound to a host transaction that is
// rolled back at the end of the test.
func boundToTx(t *testing.T, s *bunstore.Store) storage.Store {
	t.Helper()
	require.NoError(t, s.Migrate(t.Context()))
	btx, err := s.DB().BeginTx(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = btx.Rollback() })
	return s.WithTx(btx)
}

// The store on a schema distributed on Citus (skipped without
// CITUS_DATABASE_URL; see testdb).
func TestConformanceCitus(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) storage.Store { return open(t, testdb.CitusDSN(t)) }, concurrent)
}
