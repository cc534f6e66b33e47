// Package testdb gives tests a fresh, isolated store of every kind the
// project supports: memory, SQLite in a temporary folder, PostgreSQL in a
// schema of its own, and a schema distributed on a Citus cluster.
//
// PostgreSQL is found through TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). When it is
// unreachable its tests are skipped with a message saying so, unless
// CREDITLEDGER_REQUIRE_POSTGRES=1, when they fail.
//
// Citus is found through CITUS_DATABASE_URL, the coordinator's DSN (what
// the test cluster's script prints, see docs/SCALING.md); see citus.go.
package testdb

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of the admin connection

	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
	"github.com/creditledger/creditledger/storage/memory"
)

// DefaultDatabaseURL is used when TEST_DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// MaxConnsPerStore caps each test store's PostgreSQL pool: many tests run
// in parallel against one server, whose max_connections is 100 here.
const MaxConnsPerStore = 8

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
		{Name: "sqlite", New: func(t *testing.T) storage.Store { return Open(t, SQLitePath(t)) }},
		{Name: "postgres", New: func(t *testing.T) storage.Store { return Open(t, PostgresDSN(t)) }},
		// PostgreSQL with every statement as SQL text through bun, as
		// behind PgBouncer: the store's other path.
		{Name: "postgres-text", New: func(t *testing.T) storage.Store {
			return OpenWith(t, PostgresDSN(t), &bunstore.Options{NoPreparedStatements: true})
		}},
		// A schema distributed on Citus (skipped without CITUS_DATABASE_URL).
		{Name: "citus", New: func(t *testing.T) storage.Store { return Open(t, CitusDSN(t)) }},
	}
}

// DatabaseURL is the PostgreSQL database tests make their schemas in.
func DatabaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// RequirePostgres reports whether CREDITLEDGER_REQUIRE_POSTGRES=1.
func RequirePostgres() bool { return os.Getenv("CREDITLEDGER_REQUIRE_POSTGRES") == "1" }

var (
	reachOnce sync.Once
	reachErr  error
)

// SkipWithoutPostgres skips t when PostgreSQL is unreachable, or fails it
// when CREDITLEDGER_REQUIRE_POSTGRES=1.
func SkipWithoutPostgres(t testing.TB) {
	t.Helper()
	reachOnce.Do(func() {
		db, err := sql.Open("pgx", DatabaseURL())
		if err != nil {
			reachErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reachErr = db.PingContext(ctx)
	})
	if reachErr == nil {
		return
	}
	if RequirePostgres() {
		t.Fatalf("PostgreSQL at TEST_DATABASE_URL is unreachable and CREDITLEDGER_REQUIRE_POSTGRES=1: %v", reachErr)
	}
	t.Skipf("PostgreSQL unreachable, skipping (set TEST_DATABASE_URL; default %s): %v", DefaultDatabaseURL, reachErr)
}

// PostgresDSN creates a schema of the test's own, dropped when it ends,
// and returns a DSN whose search_path is that schema.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	SkipWithoutPostgres(t)
	return schemaDSN(t, DatabaseURL())
}

// SQLitePath returns a database file path in a temporary folder.
func SQLitePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "creditledger.db")
}

// Open opens dsn with bunstore.Open, caps its pool, and closes it when
// the test ends.
func Open(t testing.TB, dsn string) *bunstore.Store {
	t.Helper()
	return OpenWith(t, dsn, nil)
}

// OpenWith is Open with store options.
func OpenWith(t testing.TB, dsn string, opts *bunstore.Options) *bunstore.Store {
	t.Helper()
	s, err := bunstore.OpenWith(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("testdb: open store: %v", err)
	}
	if s.DB().Dialect().Name().String() == "pg" {
		s.DB().SetMaxOpenConns(MaxConnsPerStore)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("testdb: close store: %v", err)
		}
	})
	return s
}

// LedgerTables returns the names of the tables named creditledger_... in
// the database of store (on PostgreSQL, in its current schema), sorted:
// what a test checks to see that a call created none.
func LedgerTables(t testing.TB, store *bunstore.Store) []string {
	t.Helper()
	query := "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'creditledger%' ORDER BY name"
	if store.DB().Dialect().Name().String() == "pg" {
		query = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'creditledger%' ORDER BY table_name"
	}
	rows, err := store.DB().QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("testdb: list tables: %v", err)
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("testdb: list tables: %v", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("testdb: list tables: %v", err)
	}
	return names
}
