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

// On PostgreSQL, when the database/sql driver is pgx and its statement
// cache is on, the store's transactions (pipeline.go) and its
// one-statement reads run through pgx's extended protocol: each statement
// text is prepared once per connection and then runs with binary
// arguments. A batch's columns go as binary arrays, with no SQL text to
// format on our side, no literal for pgx to sanitize, and no array literal
// or plan for PostgreSQL to parse on every call. Everything else, and every
// statement of SQLite, a bound store or another driver, goes through bun.

// preparedConn runs statements written with bun's ? placeholders on the
// pool of the pgx driver, numbered ($1, $2, ...) and in pgx's
// statement-caching mode. It is the bun.IConn of the store's
// one-statement reads.
type preparedConn struct{ db *sql.DB }

func (c preparedConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, numbered(query), preparedArgs(args)...)
}

func (c preparedConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, numbered(query), preparedArgs(args)...)
}

func (c preparedConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, numbered(query), preparedArgs(args)...)
}

// reader returns what the store's one-statement reads with scalar
// arguments run on: the pool through preparedConn when statements are
// prepared, else bun.
func (s *Store) reader() bun.IConn {
	if s.usePrepared() {
		return preparedConn{s.db.DB}
	}
	return s.idb
}

// preparedArgs puts pgx's execution mode in front of args: pgx's
// database/sql driver hands arguments to pgx as they are, and pgx takes a
// leading QueryExecMode as the mode of that one call.
func preparedArgs(args []any) []any {
	out := make([]any, 0, len(args)+1)
	out = append(out, pgx.QueryExecModeCacheStatement)
	return append(out, args...)
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

// usePrepared reports whether the store's transactions and reads run
// prepared (pipelinedTx, preparedConn), as decided by Init.
func (s *Store) usePrepared() bool {
	return s.kind == postgres && !s.bound && s.prepared.Load()
}

// decidePrepared decides, once, at Init, whether statements are
// prepared: on PostgreSQL when the driver is pgx's database/sql driver
// with its statement cache on and Options.NoPreparedStatements is not
// set. It asks one pooled connection. Until Init, statements go through
// bun.
func (s *Store) decidePrepared(ctx context.Context) error {
	if s.kind != postgres || s.bound || s.noPrepared {
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
		if c, ok := dc.(*stdlib.Conn); ok {
			s.prepared.Store(c.Conn().Config().StatementCacheCapacity > 0)
		}
		return nil
	})
}
