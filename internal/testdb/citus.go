package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/creditledger/creditledger/storage/bunstore"
)

// CitusShardCount is the shard count of the tables of a test's Citus
// schema: few shards keep distributing a schema quick (under a second)
// while an account set of a test still spans every worker.
const CitusShardCount = 4

// CitusURL is the Citus coordinator tests distribute their schemas on:
// CITUS_DATABASE_URL, or "" when unset.
func CitusURL() string { return os.Getenv("CITUS_DATABASE_URL") }

// RequireCitus reports whether CREDITLEDGER_REQUIRE_CITUS=1.
func RequireCitus() bool { return os.Getenv("CREDITLEDGER_REQUIRE_CITUS") == "1" }

var (
	citusOnce sync.Once
	citusErr  error
)

// SkipWithoutCitus skips t when CITUS_DATABASE_URL is unset or its
// coordinator is unreachable or has no citus extension, or fails it then
// when CREDITLEDGER_REQUIRE_CITUS=1.
func SkipWithoutCitus(t testing.TB) {
	t.Helper()
	if CitusURL() == "" {
		if RequireCitus() {
			t.Fatal("CREDITLEDGER_REQUIRE_CITUS=1 but CITUS_DATABASE_URL is unset (start a cluster, see docs/SCALING.md, and export its DSN)")
		}
		t.Skip("Citus: CITUS_DATABASE_URL is unset, skipping (docs/SCALING.md says how to start a cluster)")
	}
	citusOnce.Do(func() {
		db, err := sql.Open("pgx", CitusURL())
		if err != nil {
			citusErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var n int
		if citusErr = db.QueryRowContext(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'citus'").Scan(&n); citusErr == nil && n == 0 {
			citusErr = bunstore.ErrNotCitus
		}
	})
	if citusErr == nil {
		return
	}
	if RequireCitus() {
		t.Fatalf("Citus at CITUS_DATABASE_URL is not usable and CREDITLEDGER_REQUIRE_CITUS=1: %v", citusErr)
	}
	t.Skipf("Citus at CITUS_DATABASE_URL is not usable, skipping: %v", citusErr)
}

// CitusDSN returns the DSN of a schema of the test's own on the Citus
// coordinator, migrated and distributed (bunstore's DistributeTables,
// CitusShardCount shards) but with no scale recorded, like a fresh
// database after `creditledger migrate -citus`: any store opened on it
// takes the Citus path. The schema is dropped with its distributed tables
// when the test ends.
func CitusDSN(t testing.TB) string {
	t.Helper()
	dsn := CitusSchemaDSN(t)
	// Quiet: every test makes one; the migrations and distribution are not news.
	quiet := slog.New(slog.DiscardHandler)
	s, err := bunstore.OpenWith(context.Background(), dsn, &bunstore.Options{CitusShardCount: CitusShardCount, Logger: quiet})
	if err != nil {
		t.Fatalf("testdb: open the Citus schema: %v", err)
	}
	defer s.Close()
	if err := s.DistributeTables(context.Background()); err != nil {
		t.Fatalf("testdb: distribute the Citus schema: %v", err)
	}
	return dsn
}

// CitusSchemaDSN is CitusDSN without the migrations: an empty schema on
// the coordinator (Citus creates it on the workers too), for tests that
// build an older schema or distribute it themselves.
func CitusSchemaDSN(t testing.TB) string {
	t.Helper()
	SkipWithoutCitus(t)
	return schemaDSN(t, CitusURL())
}

// schemaDSN creates a schema of the test's own in the database of base,
// dropped when the test ends, and returns base with that search_path.
func schemaDSN(t testing.TB, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "creditledger_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testdb: create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: database URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// CitusShard connects to the worker that holds the shard of table (a
// distributed table of db's schema) in which account's rows are, in that
// schema, and returns the connection (closed when the test ends) and the
// shard's table name, for tests that act on a worker behind Citus's back.
func CitusShard(t testing.TB, db *sql.DB, table, account string) (*sql.DB, string) {
	t.Helper()
	ctx := context.Background()
	var shard int64
	var host, schema string
	var port int
	err := db.QueryRowContext(ctx, `SELECT s.shardid, s.nodename, s.nodeport, current_schema()
FROM citus_shards AS s WHERE s.shardid = get_shard_id_for_distribution_column($1::regclass, $2)`, table, account).
		Scan(&shard, &host, &port, &schema)
	if err != nil {
		t.Fatalf("testdb: the shard of %s for account %q: %v", table, account, err)
	}
	u, err := url.Parse(CitusURL())
	if err != nil {
		t.Fatalf("testdb: CITUS_DATABASE_URL: %v", err)
	}
	u.Host = fmt.Sprintf("%s:%d", host, port)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	worker, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() { _ = worker.Close() })
	return worker, fmt.Sprintf("%s_%d", table, shard)
}
