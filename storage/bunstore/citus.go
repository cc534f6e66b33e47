package bunstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/uptrace/bun"
)

// ErrNotCitus is returned by [Store.DistributeTables] (and by Init with
// Options.Citus) when the database is not a Citus coordinator: the citus
// extension is not installed in it.
var ErrNotCitus = errors.New("bunstore: the database has no citus extension (not a Citus coordinator)")

// citusAccountsTable is the table every other account-keyed table is
// co-located with: the shards of one account's rows live together, so
// every per-account statement is routed to one worker.
const citusAccountsTable = "creditledger_accounts"

// citusLocalTables stay on the coordinator: only bun's migrator uses them,
// and only from the coordinator.
var citusLocalTables = []string{migrationsTable, migrationLocksTable}

// DistributeTables makes the store's schema a distributed one on a Citus
// coordinator, idempotently: it migrates (see [Store.Migrate]), then
// distributes creditledger_accounts by id and every other table of the
// schema named creditledger_... with an account_id column by account_id,
// all co-located with creditledger_accounts; the other creditledger_
// tables holding data (creditledger_meta) become reference tables, and
// bun's migration tables stay local to the coordinator. Tables already
// distributed are left as they are, so running it again, or after a
// migration that created a table, distributes only what is new.
//
// The append-only trigger of creditledger_entries is created on every
// shard (Citus allows it with citus.enable_unsafe_triggers, which
// DistributeTables sets for its own session only): an UPDATE, DELETE or
// TRUNCATE of entries is refused on the workers as on one PostgreSQL.
//
// Shard count: Options.CitusShardCount, or the cluster's citus.shard_count
// (Citus's default is 32) when zero. Once distributed, the store's calls
// that span accounts take the Citus path (see the package's Citus notes),
// chosen at Init for every store that opens the schema.
//
// Errors: ErrNotCitus when the database has no citus extension; a bound
// store ([Store.WithTx]) or SQLite cannot distribute; failures of Citus's
// functions are returned wrapped, naming the table.
func (s *Store) DistributeTables(ctx context.Context) error {
	if s.kind != postgres {
		return fmt.Errorf("bunstore: distribute tables: %s is not PostgreSQL", s.kind)
	}
	if s.bound {
		return errors.New("bunstore: distribute tables: a store bound to a host transaction cannot distribute its tables; call it on the store itself")
	}
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	if err := s.distributeTables(ctx); err != nil {
		return fmt.Errorf("bunstore: distribute tables: %w", err)
	}
	s.citus.Store(true)
	return nil
}

// distributeTables does DistributeTables' work on one connection, under
// the migration lock, so that concurrent callers (and migrators) run one
// after the other and the later ones find nothing to do.
func (s *Store) distributeTables(ctx context.Context) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if ok, err := hasCitus(ctx, conn); err != nil {
		return err
	} else if !ok {
		return ErrNotCitus
	}
	const key = "?, hashtext(coalesce(current_schema(), ''))"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")", advisoryLockClass); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer func() {
		_, uerr := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+key+")", advisoryLockClass)
		// Drop the connection either way: it carries this session's
		// Citus settings, which the pool's other users must not inherit.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		if uerr != nil && err == nil {
			err = fmt.Errorf("releasing the migration lock: %w", uerr)
		}
	}()
	// The append-only trigger goes onto the shards of creditledger_entries.
	// It only raises an error, so none of the reasons Citus calls
	// triggers on shards unsafe (a trigger reading or writing other
	// distributed tables from a worker) applies.
	if _, err := conn.ExecContext(ctx, "SET citus.enable_unsafe_triggers = on"); err != nil {
		return fmt.Errorf("allowing the append-only trigger on shards: %w", err)
	}
	if s.citusShards > 0 {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET citus.shard_count = %d", s.citusShards)); err != nil {
			return fmt.Errorf("setting the shard count %d: %w", s.citusShards, err)
		}
	}
	tables, err := citusTables(ctx, conn)
	if err != nil {
		return err
	}
	// The trigger function names the entries' row type, which a worker
	// resolves in its own search_path when the trigger fires on a shard:
	// pin the function to the schema (Citus passes the change on to the
	// workers). A migration that replaces the function drops the pin, so
	// it is set again at every Init.
	var schema string
	if err := conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("reading the current schema: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "ALTER FUNCTION creditledger_entries_append_only() SET search_path = ?", bun.Ident(schema)); err != nil {
		return fmt.Errorf("pinning the append-only trigger's function to schema %q: %w", schema, err)
	}
	for _, t := range tables {
		if t.distributed {
			continue
		}
		var stmt string
		var args []any
		switch {
		case t.name == citusAccountsTable:
			// A co-location group of its own, so that moving or
			// rebalancing this schema's shards does not drag another
			// schema's along.
			stmt, args = "SELECT create_distributed_table(?::regclass, 'id', colocate_with => 'none')", []any{t.name}
		case t.hasAccountID:
			stmt, args = "SELECT create_distributed_table(?::regclass, 'account_id', colocate_with => ?)", []any{t.name, citusAccountsTable}
		case slices.Contains(citusLocalTables, t.name):
			continue
		default:
			stmt, args = "SELECT create_reference_table(?::regclass)", []any{t.name}
		}
		if _, err := conn.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("distributing %s: %w", t.name, err)
		}
		s.logger.InfoContext(ctx, "creditledger: distributed a table on Citus", "table", t.name)
	}
	return nil
}

// citusTable is one creditledger_ table of the current schema.
type citusTable struct {
	name         string
	hasAccountID bool
	distributed  bool // in pg_dist_partition already (distributed or reference)
}

// citusTables lists the creditledger_ tables of the current schema,
// creditledger_accounts first (the others are co-located with it).
func citusTables(ctx context.Context, conn bun.Conn) ([]citusTable, error) {
	rows, err := conn.QueryContext(ctx, `SELECT c.relname::text,
	EXISTS (SELECT 1 FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped),
	EXISTS (SELECT 1 FROM pg_dist_partition AS p WHERE p.logicalrelid = c.oid)
FROM pg_class AS c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relname LIKE 'creditledger\_%'
ORDER BY c.relname <> ?, c.relname`, citusAccountsTable)
	if err != nil {
		return nil, fmt.Errorf("listing the tables: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []citusTable
	for rows.Next() {
		var t citusTable
		if err := rows.Scan(&t.name, &t.hasAccountID, &t.distributed); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing the tables: %w", err)
	}
	if len(out) == 0 || out[0].name != citusAccountsTable {
		return nil, fmt.Errorf("no table %s in the current schema (did the migrations run?)", citusAccountsTable)
	}
	return out, nil
}

// querier is what hasCitus and detectCitus read through.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// hasCitus reports whether the citus extension is installed in the
// database.
func hasCitus(ctx context.Context, q querier) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'citus'").Scan(&n); err != nil {
		return false, fmt.Errorf("looking for the citus extension: %w", err)
	}
	return n > 0, nil
}

// detectCitus decides, at Init, whether the store's schema is distributed
// on Citus (creditledger_accounts is a distributed table), and then
// distributes what a migration may have added since (a new account-keyed
// table). With Options.Citus it distributes the schema if it is not yet.
func (s *Store) detectCitus(ctx context.Context) error {
	if s.kind != postgres || s.bound {
		return nil
	}
	if s.wantCitus {
		return s.distributeAndMark(ctx)
	}
	ok, err := hasCitus(ctx, s.db)
	if err != nil || !ok {
		return err
	}
	var distributed bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_dist_partition
WHERE logicalrelid = to_regclass(quote_ident(current_schema()) || '.' || ?))`, citusAccountsTable).Scan(&distributed); err != nil {
		return fmt.Errorf("bunstore: init: is the schema distributed: %w", err)
	}
	if !distributed {
		return nil
	}
	return s.distributeAndMark(ctx)
}

// distributeAndMark distributes what is not yet (the migrations have run)
// and switches the store to the Citus path.
func (s *Store) distributeAndMark(ctx context.Context) error {
	if err := s.distributeTables(ctx); err != nil {
		return fmt.Errorf("bunstore: init: distribute tables: %w", err)
	}
	s.citus.Store(true)
	return nil
}

// Citus reports whether the store takes the Citus path: its schema was
// found distributed at Init, or [Store.DistributeTables] distributed it.
func (s *Store) Citus() bool { return s.citus.Load() }

// constraintName returns the schema's name of the constraint an error
// names: its constraint field, or, when that is empty (Citus relays a
// worker's error without it), the name quoted after "constraint" in its
// message; on Citus without the shard's suffix (unshardedName).
func constraintName(field, msg string) string {
	if field == "" {
		if _, rest, ok := strings.Cut(msg, `constraint "`); ok {
			field, _, _ = strings.Cut(rest, `"`)
		}
	}
	return unshardedName(field)
}

// unshardedName returns the name of a constraint or index as the schema
// names it: on Citus an error raised on a worker names the shard's copy,
// which carries the shard id ("creditledger_entries_idempotency_key_key_102113").
// None of the schema's own names ends in "_" and digits.
func unshardedName(name string) string {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i < len(name) && i > 1 && name[i-1] == '_' {
		return name[:i-1]
	}
	return name
}
