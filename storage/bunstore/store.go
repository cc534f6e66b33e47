// Package bunstore is a creditledger store on PostgreSQL or SQLite, through
// bun (github.com/uptrace/bun).
//
//	store, err := bunstore.Open(ctx, "postgres://app@localhost:5432/app?sslmode=disable")
//	// or bunstore.Open(ctx, "/var/lib/app/credits.db") for SQLite
//	...
//	defer store.Close()
//	l, err := ledger.New(store, nil) // runs the migrations through Store.Init
//
// A host that already has a *bun.DB passes it to [New]; its dialect
// (pgdialect or sqlitedialect) selects the SQL. [Store.WithTx] binds a store
// to a host's transaction, so that a payment and its grant commit together.
//
// Every table, index, function and trigger is named creditledger_..., so the
// store can share a host's database; embedded migrations create them (see
// [Store.Migrate]). Amounts are 64-bit integer minor units; times are
// timestamptz on PostgreSQL and INTEGER microseconds on SQLite, read in UTC.
// Entries cannot be updated or deleted (triggers refuse it).
//
// Each dialect has its own path, in files pg_*.go and sqlite_*.go around
// shared ones; columns.go maps each table's columns for both. On PostgreSQL
// with pgx's driver (as [Open] sets up) transactions are pipelined on one
// pgx connection with binary arguments, prepared once per connection unless
// Options.NoPreparedStatements. On SQLite write transactions are serialized
// in the process and run BEGIN IMMEDIATE on one connection; their statements
// are SQL text with the values as literals, and go through bun, so its query
// hooks see them. Inside the function given to Store.Tx use only the Tx it
// is given: on SQLite's one connection, a call to the Store would wait for
// the connection the transaction holds. docs/BENCHMARKS.md and
// docs/RELIABILITY.md say why each path is shaped as it is.
package bunstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"

	"github.com/creditledger/creditledger/storage"
)

// Options configure a Store. The zero value and nil select the defaults.
type Options struct {
	// Logger receives retries of failed transactions (at debug level) and
	// applied migrations (at info level). It never receives a DSN.
	// Default: slog.Default().
	Logger *slog.Logger

	// MaxRetries is how many times Store.Tx runs its function again after
	// a serialization failure or deadlock (PostgreSQL SQLSTATE 40001 and
	// 40P01) or a busy or locked database (SQLite). Default 10; a negative
	// value disables retries.
	MaxRetries int

	// Parallel is how many transactions one Ledger.Distribute or
	// ExpireDue call may run at once on PostgreSQL, each serving its own
	// chunk of accounts from its own pooled connection (see
	// storage.Store.MaxParallelTx). Default 2: while one chunk's transaction waits
	// for the database, the next one is prepared and sent, and a database
	// with two cores or more works on both (a large distribution takes
	// about half the time of one chunk at a time; see docs/BENCHMARKS.md). 1
	// serves one chunk at a time. SQLite (one writer) and a store bound
	// with WithTx always use 1.
	Parallel int

	// NoPreparedStatements sends the store's statements as unnamed
	// statements of pgx's extended protocol (their parameter types
	// described once per store), with the same binary arguments and
	// round trips. By default, when the driver is pgx's database/sql
	// driver with its statement cache on (as with Open), they are
	// prepared once per connection, which costs PostgreSQL less parsing.
	// Set it for a connection pooler that cannot keep prepared
	// statements, such as PgBouncer in transaction mode before 1.21.
	NoPreparedStatements bool

	// Tracer, with Open and OpenWith on PostgreSQL, sees every statement
	// pgx runs (for example an OpenTelemetry tracer for pgx, or a
	// statement counter). bun's query hooks (DB().AddQueryHook) see every
	// statement on SQLite, and on PostgreSQL only those that go through
	// bun, not those of the pgx path. New ignores it: configure the pgx
	// connection given to New instead.
	Tracer pgx.QueryTracer

	// Citus makes Init distribute the schema on a Citus coordinator (see
	// Store.DistributeTables) if it is not yet; Init fails with
	// ErrNotCitus when the database has no citus extension. Default
	// false: a schema already distributed is recognised at Init without
	// it.
	Citus bool
	// CitusShardCount is the shard count of the tables Citus distributes
	// (0: the cluster's citus.shard_count, 32 unless configured). It is
	// fixed when a table is distributed; later values are ignored.
	CitusShardCount int
}

const (
	defaultMaxRetries = 10
	defaultParallel   = 2
)

func (o *Options) withDefaults() *Options {
	out := Options{}
	if o != nil {
		out = *o
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	switch {
	case out.MaxRetries == 0:
		out.MaxRetries = defaultMaxRetries
	case out.MaxRetries < 0:
		out.MaxRetries = 0
	}
	if out.Parallel <= 0 {
		out.Parallel = defaultParallel
	}
	return &out
}

// kind is the SQL dialect a Store speaks.
type kind int

const (
	postgres kind = iota + 1
	sqlite
)

func (k kind) String() string {
	if k == postgres {
		return "postgres"
	}
	return "sqlite"
}

// Store is a storage.Store on a bun database. It is safe for concurrent
// use. Create one with [New] or [Open].
type Store struct {
	db       *bun.DB // the database; also the one of a bound store
	idb      bun.IDB // db, or the host's transaction a bound store uses
	bound    bool    // made by WithTx
	kind     kind
	ownsDB   bool // Close closes db: Open made it
	logger   *slog.Logger
	retries  int
	parallel int

	noPrepared bool
	mode       *atomic.Int32 // a pgMode, decided at Init (decidePgMode); shared with WithTx's stores
	descs      *sync.Map     // statement text -> *pgconn.StatementDescription, for viaPgxUnnamed
	builders   *builderPool  // pgx argument encoders, reused (pg_pipeline.go)

	migrations *migrate.Migrations
	migrateMu  *sync.Mutex // serializes Migrate calls of this process

	citus       *atomic.Bool // the schema is distributed on Citus (citus.go); decided at Init, shared with WithTx's stores
	wantCitus   bool         // Options.Citus
	citusShards int          // Options.CitusShardCount

	// sqliteWriters serializes the store's SQLite write transactions in
	// the process (capacity 1; see sqlite_tx.go); shared with WithTx's
	// stores, which do not take it.
	sqliteWriters chan struct{}
}

var _ storage.Store = (*Store)(nil)

// MaxParallelTx returns how many transactions the ledger may run at once
// for one Distribute or ExpireDue call: Options.Parallel on PostgreSQL, 1
// on SQLite and for a store bound to a host's transaction.
func (s *Store) MaxParallelTx() int {
	if s.kind != postgres || s.bound {
		return 1
	}
	return s.parallel
}

// Bound reports whether the store was made by [Store.WithTx]: its Tx
// runs inside the host's transaction, so the ledger batches none of its
// calls with others (group commit) and takes no lock only to read.
func (s *Store) Bound() bool { return s.bound }

// New returns a Store on db, whose dialect (pgdialect or sqlitedialect)
// selects the SQL. opts may be nil. New does no I/O: call [Store.Migrate]
// (or let the ledger call [Store.Init], which migrates) before use. The
// host keeps ownership of db: [Store.Close] does not close it.
//
// New returns an error if db is nil or its dialect is neither PostgreSQL nor
// SQLite.
func New(db *bun.DB, opts *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("bunstore: New: db is nil")
	}
	var k kind
	var sub string
	switch name := db.Dialect().Name(); name {
	case dialect.PG:
		k, sub = postgres, "migrations/postgres"
	case dialect.SQLite:
		k, sub = sqlite, "migrations/sqlite"
	default:
		return nil, fmt.Errorf("bunstore: New: unsupported dialect %s (want pg or sqlite)", name)
	}
	migrations, err := loadMigrations(sub)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	s := &Store{
		db:         db,
		idb:        db,
		kind:       k,
		logger:     o.Logger,
		retries:    o.MaxRetries,
		parallel:   o.Parallel,
		noPrepared: o.NoPreparedStatements,
		mode:       &atomic.Int32{},
		descs:      &sync.Map{},
		builders:   &builderPool{},
		migrations: migrations,
		migrateMu:  &sync.Mutex{},

		citus:       &atomic.Bool{},
		wantCitus:   o.Citus,
		citusShards: o.CitusShardCount,
	}
	if k == sqlite {
		s.sqliteWriters = make(chan struct{}, 1)
	}
	s.addHashChainMigration(migrations)
	return s, nil
}

func loadMigrations(sub string) (*migrate.Migrations, error) {
	fsys, err := fs.Sub(migrationFS, sub)
	if err != nil {
		return nil, fmt.Errorf("bunstore: migrations: %w", err)
	}
	m := migrate.NewMigrations()
	if err := m.Discover(fsys); err != nil {
		return nil, fmt.Errorf("bunstore: migrations: %w", err)
	}
	return m, nil
}

// DB returns the database the store uses (for a bound store, the database
// of its parent, not the host's transaction).
func (s *Store) DB() *bun.DB { return s.db }

// Close closes the database if [Open] opened it. It does nothing for a
// store made by [New] (the host owns its *bun.DB) or by [Store.WithTx].
func (s *Store) Close() error {
	if !s.ownsDB || s.bound {
		return nil
	}
	return s.db.Close()
}

// WithTx returns a store bound to a host's transaction, usually a bun.Tx
// begun on [Store.DB]. Its Tx runs the function inside that transaction
// under a savepoint: if the function fails, the savepoint is rolled back, so
// only the ledger's writes are undone and the host's transaction stays
// usable. It does not retry (the host owns the transaction and decides).
// Its reads see the transaction's uncommitted writes. Committing or rolling
// back is the host's job; the bound store must not be used afterwards.
//
// Migrate on a bound store migrates [Store.DB] outside the transaction; call
// it before binding. Init on a bound store only checks and records the
// scale, in the transaction.
//
// Passing a *bun.DB or bun.Conn instead of a bun.Tx makes Tx begin a real
// transaction on it, still without retries.
func (s *Store) WithTx(tx bun.IDB) *Store {
	bound := *s
	bound.idb = tx
	bound.bound = true
	return &bound
}

// Init runs [Store.Migrate] (not on a bound store), decides once whether
// the store's PostgreSQL statements are prepared (see
// Options.NoPreparedStatements; before Init they go through bun) and
// whether the schema is distributed on Citus (distributing it with
// Options.Citus; see Store.DistributeTables), then records scale as
// the scale of the store's amounts if none is recorded. If another scale is
// recorded it returns an error wrapping storage.ErrScaleMismatch that names
// both.
func (s *Store) Init(ctx context.Context, scale int32) error {
	if !s.bound {
		if err := s.Migrate(ctx); err != nil {
			return err
		}
		if err := s.decidePgMode(ctx); err != nil {
			return fmt.Errorf("bunstore: init: %w", err)
		}
		if err := s.detectCitus(ctx); err != nil {
			return err
		}
	}
	var stored string
	err := s.Tx(ctx, func(ctx context.Context, stx storage.Tx) error {
		t := stx.(interface {
			queryer
			exec(ctx context.Context, query string, args ...any) error
		})
		// The scale is an integer: its literal needs no quoting, and the
		// statement takes no arguments on either dialect.
		if err := t.exec(ctx, "INSERT INTO creditledger_meta (key, value) VALUES ('scale', '"+
			strconv.Itoa(int(scale))+"') ON CONFLICT (key) DO NOTHING"); err != nil {
			return err
		}
		values, err := queryAll(ctx, t, func(r rowScanner) (v string, err error) { return v, r.Scan(&v) },
			"SELECT value FROM creditledger_meta WHERE key = 'scale'")
		if err != nil {
			return err
		}
		if len(values) != 1 {
			return fmt.Errorf("no scale recorded in creditledger_meta")
		}
		stored = values[0]
		return nil
	})
	if err != nil {
		return fmt.Errorf("bunstore: init: recording the scale (did the migrations run? see Store.Migrate): %w", err)
	}
	if stored != fmt.Sprint(scale) {
		return fmt.Errorf("%w: the database holds amounts of scale %s, the ledger was opened with scale %d",
			storage.ErrScaleMismatch, stored, scale)
	}
	return nil
}
