package bunstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// distribution is how Citus holds one table of the test's schema.
type distribution struct {
	method      string // h: hash-distributed, n: reference
	column      string // distribution column; "" for a reference table
	colocation  int
	shardsCount int
}

// citusLayout returns how Citus holds each creditledger_ table of the
// store's schema (those it does not know are left out).
func citusLayout(t *testing.T, s *bunstore.Store) map[string]distribution {
	t.Helper()
	rows, err := s.DB().QueryContext(context.Background(), `SELECT c.relname::text, p.partmethod::text,
	coalesce(column_to_column_name(p.logicalrelid, p.partkey), ''), p.colocationid,
	(SELECT count(*) FROM pg_dist_shard AS sh WHERE sh.logicalrelid = p.logicalrelid)
FROM pg_dist_partition AS p JOIN pg_class AS c ON c.oid = p.logicalrelid
WHERE c.relnamespace = current_schema()::regnamespace`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]distribution{}
	for rows.Next() {
		var name string
		var d distribution
		require.NoError(t, rows.Scan(&name, &d.method, &d.column, &d.colocation, &d.shardsCount))
		out[name] = d
	}
	require.NoError(t, rows.Err())
	return out
}

// TestCitusDistributeTables distributes a fresh schema twice: every
// account-keyed table by account, co-located, in testdb.CitusShardCount
// shards; the metadata as a reference table; bun's migration tables local.
// A store opened on the schema afterwards, without Options.Citus, finds it
// distributed at Init. On a PostgreSQL without Citus it is ErrNotCitus.
func TestCitusDistributeTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.CitusSchemaDSN(t)
	s := testdb.OpenWith(t, dsn, &bunstore.Options{CitusShardCount: testdb.CitusShardCount})
	require.False(t, s.Citus())
	require.NoError(t, s.DistributeTables(ctx))
	first := citusLayout(t, s)
	require.NoError(t, s.DistributeTables(ctx), "a second run finds everything distributed")
	require.True(t, s.Citus())
	require.Equal(t, first, citusLayout(t, s))

	accounts := first["creditledger_accounts"]
	require.Equal(t, distribution{method: "h", column: "id", colocation: accounts.colocation, shardsCount: testdb.CitusShardCount}, accounts)
	for _, table := range []string{"creditledger_lots", "creditledger_entries", "creditledger_holds", "creditledger_events", "creditledger_lot_notices"} {
		require.Equal(t, distribution{method: "h", column: "account_id", colocation: accounts.colocation, shardsCount: testdb.CitusShardCount},
			first[table], "%s is co-located with the accounts", table)
	}
	require.Equal(t, "n", first["creditledger_meta"].method, "creditledger_meta is a reference table")
	require.Equal(t, 1, first["creditledger_meta"].shardsCount)
	require.NotContains(t, first, "creditledger_migrations")
	require.NotContains(t, first, "creditledger_migration_locks")
	require.Len(t, first, 7)

	other := open(t, dsn)
	l, err := ledger.New(other, nil)
	require.NoError(t, err)
	require.True(t, other.Citus(), "Init recognises a distributed schema")
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: decimal.NewFromInt(5)})
	require.NoError(t, err)

	plain := open(t, postgresDSN(t))
	err = plain.DistributeTables(ctx)
	require.ErrorIs(t, err, bunstore.ErrNotCitus)
	require.False(t, plain.Citus())
	require.Zero(t, count(t, plain, "creditledger_accounts"), "nothing is written")
}

// TestCitusEntriesAppendOnlyOnShards writes entries through the ledger,
// then tries to change them on the worker that holds their shard, and
// through the coordinator: every UPDATE, DELETE and TRUNCATE is refused by
// the append-only trigger, and the history and balances stay as written.
func TestCitusEntriesAppendOnlyOnShards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, testdb.CitusDSN(t))
	l, err := ledger.New(s, nil)
	require.NoError(t, err)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: decimal.NewFromInt(10)})
	require.NoError(t, err)
	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(3)})
	require.NoError(t, err)

	worker, shard := testdb.CitusShard(t, s.DB().DB, "creditledger_entries", "u")
	var onShard int
	require.NoError(t, worker.QueryRowContext(ctx, "SELECT count(*) FROM "+shard+" WHERE account_id = 'u'").Scan(&onShard))
	require.Equal(t, 2, onShard, "the worker holds the account's entries")
	for _, stmt := range []string{
		"UPDATE " + shard + " SET amount = 1000 WHERE account_id = 'u'",
		"DELETE FROM " + shard + " WHERE account_id = 'u'",
	} {
		_, err := worker.ExecContext(ctx, stmt)
		require.ErrorContains(t, err, "append-only", "on the worker: %s", stmt)
	}
	// Citus itself refuses a TRUNCATE of a shard, before the trigger.
	_, err = worker.ExecContext(ctx, "TRUNCATE "+shard)
	require.ErrorContains(t, err, "shard of a distributed table")
	require.NoError(t, worker.QueryRowContext(ctx, "SELECT count(*) FROM "+shard+" WHERE account_id = 'u'").Scan(&onShard))
	require.Equal(t, 2, onShard)
	for _, stmt := range []string{
		"UPDATE creditledger_entries SET amount = 1000",
		"DELETE FROM creditledger_entries",
		"TRUNCATE creditledger_entries",
	} {
		_, err := s.DB().ExecContext(ctx, stmt)
		require.ErrorContains(t, err, "append-only", "on the coordinator: %s", stmt)
	}
	es, err := s.Entries(ctx, storage.EntryQuery{Account: "u", Limit: 10})
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.EqualValues(t, -3, es[0].Amount)
	require.EqualValues(t, 10, es[1].Amount)
	requireBalanceIs(t, l, "u", "7")
	rep, err := l.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Violations)
}

func requireBalanceIs(t *testing.T, l *ledger.Ledger, account, want string) {
	t.Helper()
	bal, err := l.Balance(context.Background(), account)
	require.NoError(t, err)
	require.Equal(t, want, bal.Available.String(), "balance of %s", account)
}

// onEveryShard runs query (with %s for the shard's name) on every shard of
// table and returns the distinct answers.
func onEveryShard(t *testing.T, s *bunstore.Store, table, query string) []string {
	t.Helper()
	rows, err := s.DB().QueryContext(context.Background(),
		"SELECT DISTINCT success::text || ':' || result FROM run_command_on_shards(?::regclass, ?)", table, query)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		require.NoError(t, rows.Scan(&r))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestCitusUpgradeDistributedSchema distributes a schema at version 3
// (before holds), then opens it with this release: schema 4's migration
// adds a column and an index to the distributed entries (Citus applies
// them to every shard) and creates creditledger_holds, which Init then
// distributes, co-located; holds and their entries work, and Verify is
// clean.
func TestCitusUpgradeDistributedSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.CitusSchemaDSN(t)
	old := testdb.OpenWith(t, dsn, &bunstore.Options{CitusShardCount: testdb.CitusShardCount})
	const schema3 = "20261128000002" // the hash chain, schema 3's last migration
	require.NoError(t, bunstore.MigrateUpTo(ctx, old, schema3))
	require.NoError(t, bunstore.DistributeWithoutMigrating(ctx, old))
	before := citusLayout(t, old)
	require.NotContains(t, before, "creditledger_holds")
	require.Equal(t, []string{"true:0"}, onEveryShard(t, old, "creditledger_entries",
		"SELECT count(*) FROM pg_attribute WHERE attrelid = '%s'::regclass AND attname = 'ref'"))

	s := open(t, dsn)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l, err := ledger.New(s, &ledger.Config{Now: func() time.Time { return now }})
	require.NoError(t, err, "Init migrates the distributed schema")
	require.True(t, s.Citus())
	after := citusLayout(t, s)
	require.Equal(t, distribution{method: "h", column: "account_id", colocation: before["creditledger_accounts"].colocation,
		shardsCount: testdb.CitusShardCount}, after["creditledger_holds"], "the new table is distributed with the others")
	require.Equal(t, []string{"true:1"}, onEveryShard(t, s, "creditledger_entries",
		"SELECT count(*) FROM pg_attribute WHERE attrelid = '%s'::regclass AND attname = 'ref'"), "every shard has the new column")
	require.Equal(t, []string{"true:1"}, onEveryShard(t, s, "creditledger_entries",
		"SELECT count(*) FROM pg_index WHERE indrelid = '%s'::regclass AND position('ref_idx' IN indexrelid::regclass::text) > 0"),
		"every shard has the new index")

	_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: decimal.NewFromInt(10)})
	require.NoError(t, err)
	h, err := l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: decimal.NewFromInt(4)})
	require.NoError(t, err)
	_, err = l.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h.ID, Amount: decimal.NewFromInt(3)})
	require.NoError(t, err)
	requireBalanceIs(t, l, "u", "7")
	rep, err := l.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Violations)
}
