package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// Open opens a database and returns a Store that owns it ([Store.Close]
// closes it). It does not migrate: the ledger's call to [Store.Init] does,
// or call [Store.Migrate].
//
// A dsn starting with postgres:// or postgresql:// opens PostgreSQL through
// pgx (database/sql driver, simple protocol) with pgdialect; every pgx URL
// parameter works, for example search_path=myschema. Anything else is a
// SQLite database: a file path or a file: URL, opened through sqliteshim
// with sqlitedialect, one connection, WAL journal, busy_timeout 5000 ms,
// foreign keys on, synchronous NORMAL, a 16 MiB page cache and BEGIN
// IMMEDIATE transactions
// (pragmas the dsn already names are left to it).
//
// Open pings the database. A malformed dsn or an unreachable database is an
// error saying which; the password is never part of the message.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, nil)
}

// OpenWith is Open with options (nil: the defaults).
func OpenWith(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	var db *bun.DB
	var err error
	if isPostgresDSN(dsn) {
		db, err = openPostgres(ctx, dsn, opts)
	} else {
		db, err = openSQLite(ctx, dsn)
	}
	if err != nil {
		return nil, err
	}
	s, err := New(db, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.ownsDB = true
	return s, nil
}

func isPostgresDSN(dsn string) bool {
	lower := strings.ToLower(dsn)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

func openPostgres(ctx context.Context, dsn string, opts *Options) (*bun.DB, error) {
	shown := redactDSN(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, sanitize(fmt.Errorf("bunstore: open postgres %s: invalid DSN: %w", shown, err), dsn)
	}
	// bun formats arguments into the statement text, so every statement
	// text is new: prepared-statement caching would cost a round trip per
	// statement and fill pgx's cache for nothing.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	if opts != nil && opts.Tracer != nil {
		cfg.Tracer = opts.Tracer
	}
	sqldb := stdlib.OpenDB(*cfg)
	if err := sqldb.PingContext(ctx); err != nil {
		_ = sqldb.Close()
		return nil, sanitize(fmt.Errorf("bunstore: open postgres %s: cannot connect: %w", shown, err), dsn)
	}
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

func openSQLite(ctx context.Context, dsn string) (*bun.DB, error) {
	if dsn == "" {
		return nil, fmt.Errorf("bunstore: open: empty DSN (want a postgres:// URL, a SQLite path or a file: URL)")
	}
	full := sqliteDSN(dsn, sqliteshim.DriverName())
	sqldb, err := sql.Open(sqliteshim.ShimName, full)
	if err != nil {
		return nil, fmt.Errorf("bunstore: open sqlite %s: %w", redactDSN(dsn), err)
	}
	// SQLite has one writer at a time: one connection serializes the
	// store's transactions in the process instead of failing them with
	// SQLITE_BUSY. It also keeps a :memory: database alive.
	sqldb.SetMaxOpenConns(1)
	sqldb.SetMaxIdleConns(1)
	sqldb.SetConnMaxLifetime(0)
	sqldb.SetConnMaxIdleTime(0)
	if err := sqldb.PingContext(ctx); err != nil {
		_ = sqldb.Close()
		if why := sqliteFolderProblem(dsn); why != "" {
			// SQLite reports it as "unable to open database file: out of
			// memory (14)", which sends people looking for the wrong thing.
			return nil, fmt.Errorf("bunstore: open sqlite %s: %s (SQLite said: %w)", redactDSN(dsn), why, err)
		}
		return nil, fmt.Errorf("bunstore: open sqlite %s: %w", redactDSN(dsn), err)
	}
	return bun.NewDB(sqldb, sqlitedialect.New()), nil
}

// sqliteFolderProblem says why the folder of a SQLite path or file: URL
// cannot hold the database ("folder \"x\" does not exist", or is not a
// folder), or "" when it can or the database is in memory. Only called
// once opening has failed.
func sqliteFolderProblem(dsn string) string {
	path, query, _ := strings.Cut(dsn, "?")
	if len(path) >= 5 && strings.EqualFold(path[:5], "file:") {
		if strings.HasPrefix(path[5:], "//") { // file:///abs/path, file://localhost/abs/path
			u, err := url.Parse(path)
			if err != nil {
				return ""
			}
			path = u.Path
		} else {
			path = path[5:]
		}
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
	}
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.Contains(query, "mode=memory") {
		return ""
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("folder %q does not exist", dir)
	case err == nil && !fi.IsDir():
		return fmt.Sprintf("%q is not a folder", dir)
	}
	return ""
}

// sqliteDSN adds the store's connection settings to a SQLite path or file:
// URL, in the syntax of the driver sqliteshim chose: modernc.org/sqlite
// ("sqlite") or mattn/go-sqlite3 ("sqlite3").
func sqliteDSN(dsn, driver string) string {
	lower := strings.ToLower(dsn)
	type setting struct{ name, modernc, mattn string }
	settings := []setting{
		{"busy_timeout", "_pragma=busy_timeout(5000)", "_busy_timeout=5000"},
		{"journal_mode", "_pragma=journal_mode(WAL)", "_journal_mode=WAL"},
		{"foreign_keys", "_pragma=foreign_keys(1)", "_foreign_keys=1"},
		{"synchronous", "_pragma=synchronous(NORMAL)", "_synchronous=NORMAL"},
		// A 16 MiB page cache (SQLite's default is 2 MiB): reads of a
		// database larger than the cache each cost a system call.
		{"cache_size", "_pragma=cache_size(-16384)", "_cache_size=-16384"},
		{"_txlock", "_txlock=immediate", "_txlock=immediate"},
	}
	var params []string
	for _, st := range settings {
		if strings.Contains(lower, st.name) {
			continue
		}
		if driver == "sqlite3" {
			params = append(params, st.mattn)
		} else {
			params = append(params, st.modernc)
		}
	}
	if len(params) == 0 {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + strings.Join(params, "&")
}

// redactDSN returns dsn with any password replaced by xxxxx, fit for
// errors and logs.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	out := dsn
	for _, pw := range passwords(dsn) {
		out = strings.ReplaceAll(out, pw, "xxxxx")
	}
	return out
}

// passwords returns the spellings of the password in dsn (as written and
// URL-decoded), longest first, found without trusting that dsn parses.
func passwords(dsn string) []string {
	var found []string
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if pw, ok := u.User.Password(); ok {
			found = append(found, pw)
		}
		if pw := u.Query().Get("password"); pw != "" {
			found = append(found, pw)
		}
		if i := strings.Index(dsn, "@"); i >= 0 && u.User != nil {
			// The password as written, before decoding.
			if raw := u.User.String(); strings.Contains(raw, ":") {
				found = append(found, raw[strings.Index(raw, ":")+1:])
			}
		}
		return spellings(found)
	}
	rest := dsn
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if colon := strings.Index(rest[:at], ":"); colon >= 0 {
			found = append(found, rest[colon+1:at])
		}
	}
	if i := strings.Index(strings.ToLower(dsn), "password="); i >= 0 {
		v := dsn[i+len("password="):]
		if j := strings.IndexAny(v, "& "); j >= 0 {
			v = v[:j]
		}
		found = append(found, v)
	}
	return spellings(found)
}

// spellings returns the non-empty passwords with their URL-decoded forms,
// longest first, so that a password containing another is replaced whole.
func spellings(found []string) []string {
	var out []string
	for _, pw := range found {
		if pw == "" {
			continue
		}
		out = append(out, pw)
		if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
			out = append(out, dec)
		}
		if dec, err := url.QueryUnescape(pw); err == nil && dec != pw {
			out = append(out, dec)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// sanitizedError shows a message cleaned of a password and unwraps to the
// original error, so errors.Is and errors.As keep working.
type sanitizedError struct {
	msg string
	err error
}

func (e *sanitizedError) Error() string { return e.msg }
func (e *sanitizedError) Unwrap() error { return e.err }

// sanitize removes every spelling of dsn's password from err's message:
// drivers and net/url quote the DSN they failed to parse.
func sanitize(err error, dsn string) error {
	msg := err.Error()
	for _, pw := range passwords(dsn) {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return &sanitizedError{msg: msg, err: err}
}
