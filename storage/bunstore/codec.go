package bunstore

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

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
// through pgx's extended protocol (pgx sends it as a binary array), or the
// text of an array literal that bun quotes and the statement casts
// (?::text[]).
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

// bytes adds b (nil: NULL).
func (a *pgArray) bytes(b []byte) { a.kind, a.blobs = arrayBytes, append(a.blobs, b) }

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

func (a *pgArray) bool(v bool) { a.kind, a.bools = arrayBool, append(a.bools, v) }

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

// arg returns the column as a query argument: with native, the Go slice
// for pgx's extended protocol, else its array literal.
func (a *pgArray) arg(native bool) any {
	if !native {
		return a.literal()
	}
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

const pgTimeFormat = "2006-01-02 15:04:05.999999-07:00"

// String returns the array literal, for example {"a","b",NULL}.
func (a *pgArray) String() string {
	var b strings.Builder
	b.WriteByte('{')
	quoted := func(s string) {
		b.WriteByte('"')
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte('"')
	}
	// A batch's times are mostly one instant (its now, its period's
	// expiry): format each distinct one once.
	var lastTime time.Time
	var lastText []byte
	timeText := func(t time.Time) {
		if lastText == nil || !t.Equal(lastTime) {
			lastTime = t
			lastText = t.AppendFormat(lastText[:0], pgTimeFormat)
		}
		b.WriteByte('"')
		b.Write(lastText)
		b.WriteByte('"')
	}
	switch a.kind {
	case arrayStr:
		writeElems(&b, a.strs, quoted)
	case arrayNullStr:
		writeElems(&b, a.nstrs, orNull(&b, quoted))
	case arrayInt:
		writeElems(&b, a.ints, func(n int64) { b.WriteString(strconv.FormatInt(n, 10)) })
	case arrayBool:
		writeElems(&b, a.bools, func(v bool) { b.WriteString(strconv.FormatBool(v)) })
	case arrayTime:
		writeElems(&b, a.times, timeText)
	case arrayNullTime:
		writeElems(&b, a.ntimes, orNull(&b, timeText))
	case arrayNullInt:
		writeElems(&b, a.nints, orNull(&b, func(n int64) { b.WriteString(strconv.FormatInt(n, 10)) }))
	case arrayBytes:
		writeElems(&b, a.blobs, func(v []byte) {
			if v == nil {
				b.WriteString("NULL")
				return
			}
			quoted(`\x` + hex.EncodeToString(v))
		})
	}
	b.WriteByte('}')
	return b.String()
}

// writeElems writes vs to b, comma-separated, each with write.
func writeElems[T any](b *strings.Builder, vs []T, write func(T)) {
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		write(v)
	}
}

// orNull returns write for a nullable element: NULL for nil.
func orNull[T any](b *strings.Builder, write func(T)) func(*T) {
	return func(v *T) {
		if v == nil {
			b.WriteString("NULL")
			return
		}
		write(*v)
	}
}

// literal returns the array as a quoted SQL string literal that bun
// appends as it is (bun.Safe): a batch's arrays are large, and quoting
// them here, in one pass, spares bun from copying and escaping them again.
// PostgreSQL runs with standard_conforming_strings on (pgx's simple
// protocol requires it), so only single quotes need doubling.
func (a *pgArray) literal() bun.Safe {
	body := a.String()
	if strings.IndexByte(body, '\'') >= 0 {
		body = strings.ReplaceAll(body, "'", "''")
	}
	return bun.Safe("'" + body + "'")
}

// pgStrings returns ss as a PostgreSQL text[] literal.
func pgStrings(ss []string) string {
	var a pgArray
	for _, s := range ss {
		a.str(s)
	}
	return a.String()
}

// arrays returns cols as arguments of t's statements (see pgArray.arg):
// Go slices on a pipelined transaction, array literals through bun.
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
	return pgStrings(ss)
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
		return col + " = ANY(?::text[])", pgStrings(values)
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
