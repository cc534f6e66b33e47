package bunstore_test

import (
	"testing"

	"github.com/creditledger/creditledger/storage"
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
