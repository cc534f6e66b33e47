package bunstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
)

// On PostgreSQL, when the database/sql driver is pgx (decided at Init, see
// pgMode), the store's transactions (pg_pipeline.go) and its one-statement
// reads run through pgx's extended protocol with binary arguments: each
// statement text is prepared once per connection, or sent unnamed with
// Options.NoPreparedStatements. A batch's columns go as binary arrays,
// with no SQL text to format on our side and no array literal for
// PostgreSQL to parse. Migrations, Verify's scans, and every statement of
// SQLite, a bound store or another driver, go through bun.

// preparedConn runs statements written with bun's ? placeholders on the
// pool of the pgx driver, numbered ($1, $2, ...) and in pgx's
// statement-caching mode. It is the bun.IConn of the store's
// one-statement reads.
type preparedConn struct {
	db   *sql.DB
	mode pgx.QueryExecMode
}

func (c preparedConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, numbered(query), c.args(args)...)
}

func (c preparedConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, numbered(query), c.args(args)...)
}

func (c preparedConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, numbered(query), c.args(args)...)
}

// args puts pgx's execution mode in front of args: pgx's database/sql
// driver hands arguments to pgx as they are, and pgx takes a leading
// QueryExecMode as the mode of that one call.
func (c preparedConn) args(args []any) []any {
	out := make([]any, 0, len(args)+1)
	out = append(out, c.mode)
	return append(out, args...)
}

// reader returns what the store's one-statement reads with scalar
// arguments run on: the pool through preparedConn on the pgx path, else
// bun.
func (s *Store) reader() bun.IConn {
	if m := s.pgxMode(); m != viaBun {
		return preparedConn{db: s.db.DB, mode: m.execMode()}
	}
	return s.idb
}

// pgMode is how a store's PostgreSQL statements run, decided once by
// Init (decidePgMode).
type pgMode int32

const (
	// viaBun: SQL text formatted by bun (SQLite, a bound store, another
	// driver than pgx's, or before Init).
	viaBun pgMode = iota
	// viaPgxUnnamed: pgx's extended protocol with unnamed statements and
	// described parameter types cached by the store
	// (Options.NoPreparedStatements, for PgBouncer in transaction mode).
	viaPgxUnnamed
	// viaPgxPrepared: pgx's extended protocol with statements prepared
	// once per connection.
	viaPgxPrepared
)

// execMode is the pgx execution mode of the store's one-statement reads.
func (m pgMode) execMode() pgx.QueryExecMode {
	if m == viaPgxPrepared {
		return pgx.QueryExecModeCacheStatement
	}
	return pgx.QueryExecModeCacheDescribe
}

// pgxMode returns how the store's statements run (see pgMode).
func (s *Store) pgxMode() pgMode {
	if s.kind != postgres || s.bound {
		return viaBun
	}
	return pgMode(s.mode.Load())
}

// numbered rewrites bun's ? placeholders as $1, $2, ... The statements
// given to it have no ? anywhere else (no string literals, no jsonb ?
// operators).
func numbered(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// decidePgMode decides, once, at Init, how the store's PostgreSQL
// statements run: through pgx when the driver is pgx's database/sql
// driver (as with Open), prepared once per connection unless
// Options.NoPreparedStatements is set or pgx's statement cache is off.
// It asks one pooled connection. Until Init, statements go through bun.
func (s *Store) decidePgMode(ctx context.Context) error {
	if s.kind != postgres || s.bound {
		return nil
	}
	if _, ok := s.db.DB.Driver().(*stdlib.Driver); !ok {
		return nil
	}
	conn, err := s.db.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return nil
		}
		m := viaPgxUnnamed
		if !s.noPrepared && c.Conn().Config().StatementCacheCapacity > 0 {
			m = viaPgxPrepared
		}
		s.mode.Store(int32(m))
		return nil
	})
}
