package bunstore

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/creditledger/creditledger/storage"
)

// Values cross the store boundary here: times in UTC truncated to the
// microsecond (timestamptz on PostgreSQL, INTEGER microseconds on SQLite),
// optional values as NULL ("" keys and lot ids, zero anchors, nil times,
// empty metadata).

// utc returns t in UTC truncated to the microsecond, the precision both
// databases keep.
func utc(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// timeArg returns t as a query argument of the store's dialect.
func (s *Store) timeArg(t time.Time) any {
	if s.kind == sqlite {
		return utc(t).UnixMicro()
	}
	return utc(t)
}

// nullTimeArg is timeArg with nil for NULL.
func (s *Store) nullTimeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.timeArg(*t)
}

// The scan destinations of the column mapping (columns.go): each reads a
// value of either dialect (PostgreSQL through database/sql or pgx, SQLite
// through database/sql) and NULL, into a field of a record.

// text scans text or NULL ("").
type text string

func (c *text) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = ""
	case string:
		*c = text(v)
	case []byte:
		*c = text(v)
	default:
		return fmt.Errorf("bunstore: cannot scan %T into text", src)
	}
	return nil
}

// integer scans an integer or NULL (0).
type integer int64

func (c *integer) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = 0
	case int64:
		*c = integer(v)
	case int32:
		*c = integer(v)
	default:
		return fmt.Errorf("bunstore: cannot scan %T into an integer", src)
	}
	return nil
}

// smallInt is integer for an int field.
type smallInt int

func (c *smallInt) Scan(src any) error {
	var n integer
	if err := n.Scan(src); err != nil {
		return err
	}
	*c = smallInt(n)
	return nil
}

// boolean scans a boolean (PostgreSQL) or an integer 0 or 1 (SQLite);
// NULL is false.
type boolean bool

func (c *boolean) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = false
	case bool:
		*c = boolean(v)
	case int64:
		*c = v != 0
	default:
		return fmt.Errorf("bunstore: cannot scan %T into a boolean", src)
	}
	return nil
}

// blob scans bytes (copied: the driver may reuse its buffer) or NULL (nil).
type blob []byte

func (c *blob) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = nil
	case []byte:
		*c = bytes.Clone(v)
	case string:
		*c = []byte(v)
	default:
		return fmt.Errorf("bunstore: cannot scan %T into bytes", src)
	}
	return nil
}

// utcTime scans a time: time.Time from PostgreSQL, microseconds since the
// Unix epoch from SQLite, read in UTC; NULL is the zero time.
type utcTime time.Time

func (c *utcTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = utcTime{}
	case time.Time:
		*c = utcTime(v.UTC())
	case int64:
		*c = utcTime(time.UnixMicro(v).UTC())
	default:
		return fmt.Errorf("bunstore: cannot scan %T into a time", src)
	}
	return nil
}

// nullTime scans a time as utcTime, NULL as nil.
type nullTime struct{ p **time.Time }

func (c nullTime) Scan(src any) error {
	if src == nil {
		*c.p = nil
		return nil
	}
	var t utcTime
	if err := t.Scan(src); err != nil {
		return err
	}
	tt := time.Time(t)
	*c.p = &tt
	return nil
}

// metadataCol scans metadata JSON (jsonb or TEXT) or NULL.
type metadataCol map[string]string

func (c *metadataCol) Scan(src any) error {
	var b text
	if err := b.Scan(src); err != nil {
		return err
	}
	if b == "" {
		*c = nil
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		return fmt.Errorf("bunstore: metadata is not a JSON object of strings: %w", err)
	}
	if len(m) == 0 {
		m = nil
	}
	*c = m
	return nil
}

// linesCol scans a hold's lines (see linesJSON).
type linesCol struct{ p *[]storage.HoldLine }

func (c linesCol) Scan(src any) error {
	var b text
	if err := b.Scan(src); err != nil {
		return err
	}
	var ls []holdLine
	if err := json.Unmarshal([]byte(b), &ls); err != nil {
		return fmt.Errorf("bunstore: hold lines: %w", err)
	}
	*c.p = nil
	for _, ln := range ls {
		*c.p = append(*c.p, storage.HoldLine{LotID: ln.Lot, Amount: ln.Amount})
	}
	return nil
}

// anyRow is a row already scanned into values (a row of the SQLite
// LockAndLoad, whose columns mean what its first says) as a rowScanner
// of scan destinations (sql.Scanner).
type anyRow []any

func (r anyRow) Scan(dest ...any) error {
	if len(dest) > len(r) {
		return fmt.Errorf("bunstore: %d values to scan from a row of %d", len(dest), len(r))
	}
	for i, d := range dest {
		sc, ok := d.(sql.Scanner)
		if !ok {
			return fmt.Errorf("bunstore: cannot scan into %T", d)
		}
		if err := sc.Scan(r[i]); err != nil {
			return err
		}
	}
	return nil
}

// inList returns "col IN (...)" in the store's dialect: one text[]
// argument on PostgreSQL, a list on SQLite.
func (s *Store) inList(col string, values []string) (string, any) {
	if s.kind == postgres {
		return col + " = ANY(?::text[])", pgdialect.Array(values)
	}
	return col + " IN (?)", bun.In(values)
}

// uniqueSorted returns the distinct non-empty values of ss in byte order,
// the order of IDs everywhere in the store.
func uniqueSorted(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkText is storage.CheckText: bun drops NUL bytes and replaces
// invalid UTF-8 when it quotes a string, a SQLite literal (sqlValues)
// would carry them as given, and PostgreSQL text holds neither.
func checkText(what, s string) error { return storage.CheckText(what, s) }

// checkTexts is checkText of each of ss.
func checkTexts(what string, ss ...string) error {
	for _, s := range ss {
		if err := checkText(what, s); err != nil {
			return err
		}
	}
	return nil
}
