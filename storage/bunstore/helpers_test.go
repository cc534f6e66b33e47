package bunstore_test

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// The tests' databases come from internal/testdb, shared with the other
// packages' tests: a schema per test on PostgreSQL, a temporary file for
// SQLite.
var (
	postgresDSN = testdb.PostgresDSN
	sqlitePath  = testdb.SQLitePath
	open        = testdb.Open
)

// database is one kind of database the tests run on.
type database struct {
	name string
	dsn  func(t testing.TB) string // a fresh, empty database
}

var databases = []database{
	{"sqlite", sqlitePath},
	{"postgres", postgresDSN},
	// A schema distributed on Citus, migrated (skipped without
	// CITUS_DATABASE_URL; see testdb).
	{"citus", testdb.CitusDSN},
}

// eachDatabase runs fn as a parallel subtest on each database.
func eachDatabase(t *testing.T, fn func(t *testing.T, db database)) {
	t.Helper()
	eachDatabaseOf(t, databases, fn)
}

// eachPlainDatabase is eachDatabase without Citus, for tests that need an
// empty schema (testdb.CitusDSN is migrated) or switch the append-only
// trigger off (Citus refuses ALTER TABLE ... DISABLE TRIGGER on a
// distributed table; citus_test.go tests the trigger on the shards).
func eachPlainDatabase(t *testing.T, fn func(t *testing.T, db database)) {
	t.Helper()
	eachDatabaseOf(t, databases[:2], fn)
}

func eachDatabaseOf(t *testing.T, dbs []database, fn func(t *testing.T, db database)) {
	t.Helper()
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			fn(t, db)
		})
	}
}

// setup returns a migrated store (scale 0) on a fresh database of db.
func setup(t *testing.T, db database) *bunstore.Store {
	t.Helper()
	s := open(t, db.dsn(t))
	require.NoError(t, s.Init(context.Background(), 0))
	return s
}

// count returns the number of rows of table.
func count(t testing.TB, s *bunstore.Store, table string) int {
	t.Helper()
	var n int
	require.NoError(t, s.DB().QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

var t0 = time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)

// grantParams describe a grant written by grant.
type grantParams struct {
	account, key string
	amount       int64
	expiresAt    *time.Time
	now          time.Time
	n            int // makes the record ids unique
}

// grant writes one grant the way the ledger does: lock (creating) the
// account, insert an operation, a lot and its entry, update the account.
func grant(ctx context.Context, s storage.Store, p grantParams) error {
	suffix := p.account + "-" + string(rune('a'+p.n%26)) + hex.EncodeToString([]byte{byte(p.n >> 8), byte(p.n)})
	return s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accounts, err := tx.LockAccounts(ctx, []string{p.account}, true, p.now)
		if err != nil {
			return err
		}
		a := accounts[0]
		return tx.Apply(ctx, grantBatch(a, p, suffix))
	})
}

func grantBatch(a storage.Account, p grantParams, suffix string) *storage.Batch {
	opID, lotID, entryID := "op-"+suffix, "lot-"+suffix, "en-"+suffix
	e := storage.Entry{
		ID: entryID, Account: a.ID, Seq: a.Seq + 1, OperationID: opID, LotID: lotID, Kind: storage.KindGrant,
		Amount: p.amount, BalanceAfter: a.Balance + p.amount, Source: "register_gift", CreatedAt: p.now,
		ExpiresAt: p.expiresAt, Key: p.key, Available: a.Balance + p.amount,
	}
	if p.key != "" {
		e.ParamHash = "h"
	}
	e.Hash = storage.EntryHash(a.HeadHash, &e)
	return &storage.Batch{
		Lots: []storage.Lot{{
			ID: lotID, Account: a.ID, OperationID: opID, Source: "register_gift",
			Amount: p.amount, Remaining: p.amount, ExpiresAt: p.expiresAt, CreatedAt: p.now,
		}},
		Entries: []storage.Entry{e},
		Accounts: []storage.AccountUpdate{{
			ID: a.ID, Balance: a.Balance + p.amount, Seq: a.Seq + 1, HeadHash: e.Hash, NextExpiryAt: p.expiresAt,
		}},
	}
}

func TestMain(m *testing.M) {
	// Keep "applied migrations" lines out of the test output.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}
