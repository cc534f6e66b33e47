package bunstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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

// nullString is s with "" for NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// encodeMetadata returns metadata as JSON, or "" (NULL) when it is empty.
func encodeMetadata(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// timeCol scans a time of either dialect: time.Time from PostgreSQL,
// microseconds from SQLite, NULL.
type timeCol struct {
	t     time.Time
	valid bool
}

func (c *timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		c.t, c.valid = time.Time{}, false
	case time.Time:
		c.t, c.valid = v.UTC(), true
	case int64:
		c.t, c.valid = time.UnixMicro(v).UTC(), true
	default:
		return fmt.Errorf("bunstore: cannot scan %T into a time", src)
	}
	return nil
}

// ptr returns the time, or nil for NULL.
func (c *timeCol) ptr() *time.Time {
	if !c.valid {
		return nil
	}
	t := c.t
	return &t
}

// textCol scans text or NULL ("").
type textCol string

func (c *textCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = ""
	case string:
		*c = textCol(v)
	case []byte:
		*c = textCol(v)
	default:
		return fmt.Errorf("bunstore: cannot scan %T into text", src)
	}
	return nil
}

// metadataCol scans metadata JSON (jsonb or TEXT) or NULL.
type metadataCol map[string]string

func (c *metadataCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("bunstore: cannot scan %T into metadata", src)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("bunstore: metadata is not a JSON object of strings: %w", err)
	}
	if len(m) == 0 {
		m = nil
	}
	*c = m
	return nil
}

// pgArray is one column of a batch, for one unnest argument per column:
// a batch of any size is one argument per column. It collects the values,
// then becomes the argument: the Go slice itself when statements go
// through pgx (pgx encodes it as a binary array), or the slice wrapped in
// pgdialect.Array when they go through bun (bun writes the array literal).
type pgArray struct {
	kind   arrayKind
	strs   []string
	nstrs  []*string // nullStr: nil for NULL
	ints   []int64
	bools  []bool
	times  []time.Time
	ntimes []*time.Time // nullTime: nil for NULL
	nints  []*int64     // nullInt: nil for NULL
	blobs  [][]byte     // bytes: nil for NULL
}

type arrayKind uint8

const (
	arrayStr arrayKind = iota + 1
	arrayNullStr
	arrayInt
	arrayBool
	arrayTime
	arrayNullTime
	arrayNullInt
	arrayBytes
)

func (a *pgArray) str(s string) { a.kind, a.strs = arrayStr, append(a.strs, s) }

// nullStr adds "" as NULL.
func (a *pgArray) nullStr(s string) {
	a.kind = arrayNullStr
	if s == "" {
		a.nstrs = append(a.nstrs, nil)
		return
	}
	a.nstrs = append(a.nstrs, &s)
}

func (a *pgArray) int(n int64) { a.kind, a.ints = arrayInt, append(a.ints, n) }

// nullInt adds nil as NULL.
func (a *pgArray) nullInt(n *int64) {
	a.kind = arrayNullInt
	if n == nil {
		a.nints = append(a.nints, nil)
		return
	}
	v := *n
	a.nints = append(a.nints, &v)
}

func (a *pgArray) bool(v bool) { a.kind, a.bools = arrayBool, append(a.bools, v) }

// bytes adds b (nil: NULL).
func (a *pgArray) bytes(b []byte) { a.kind, a.blobs = arrayBytes, append(a.blobs, b) }

func (a *pgArray) time(t time.Time) { a.kind, a.times = arrayTime, append(a.times, utc(t)) }

// nullTime adds nil as NULL.
func (a *pgArray) nullTime(t *time.Time) {
	a.kind = arrayNullTime
	if t == nil {
		a.ntimes = append(a.ntimes, nil)
		return
	}
	u := utc(*t)
	a.ntimes = append(a.ntimes, &u)
}

// slice returns the column's values as a Go slice.
func (a *pgArray) slice() any {
	switch a.kind {
	case arrayStr:
		return a.strs
	case arrayNullStr:
		return a.nstrs
	case arrayInt:
		return a.ints
	case arrayBool:
		return a.bools
	case arrayTime:
		return a.times
	case arrayNullTime:
		return a.ntimes
	case arrayNullInt:
		return a.nints
	case arrayBytes:
		return a.blobs
	}
	return []string{} // no value added: an empty array of any type
}

// arg returns the column as a query argument: with native (pgx), the Go
// slice; through bun, the slice as pgdialect.Array.
func (a *pgArray) arg(native bool) any {
	if native {
		return a.slice()
	}
	return pgdialect.Array(a.slice())
}

// arrays returns cols as arguments of t's statements (see pgArray.arg).
func (t *tx) arrays(cols ...*pgArray) []any {
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = c.arg(t.pc != nil)
	}
	return out
}

// textArray returns ss as a text[] argument of t's statements.
func (t *tx) textArray(ss []string) any {
	if t.pc != nil {
		return ss
	}
	return pgdialect.Array(ss)
}

// inList is Store.inList for t's statements.
func (t *tx) inList(col string, values []string) (string, any) {
	if t.pc != nil {
		return col + " = ANY(?::text[])", values
	}
	return t.s.inList(col, values)
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

// checkText refuses a string the databases cannot hold as given: bun drops
// NUL bytes and replaces invalid UTF-8 when it quotes a string, and
// PostgreSQL text holds neither.
func checkText(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s %q contains a NUL byte", storage.ErrInvalidArgument, what, s)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s %q is not valid UTF-8", storage.ErrInvalidArgument, what, s)
	}
	return nil
}
