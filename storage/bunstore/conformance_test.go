package bunstore_test

import (
	"testing"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
	"github.com/creditledger/creditledger/storage/storetest"
)

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) storage.Store { return open(t, sqlitePath(t)) })
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) storage.Store { return open(t, postgresDSN(t)) })
}

// The same store with every statement as SQL text through bun (no
// prepared statements, no pipelining), as behind PgBouncer.
func TestConformancePostgresText(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) storage.Store {
		return testdb.OpenWith(t, postgresDSN(t), &bunstore.Options{NoPreparedStatements: true})
	})
}

// The store on a schema distributed on Citus (skipped without
// CITUS_DATABASE_URL; see testdb).
func TestConformanceCitus(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) storage.Store { return open(t, testdb.CitusDSN(t)) })
}
