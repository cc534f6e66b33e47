package bunstore

import (
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

// pgArray builds the text of a PostgreSQL array literal, for one unnest
// argument per column: bun quotes it as a string and the statement casts it
// (?::text[]), so a batch of any size is one argument per column.
type pgArray struct {
	b strings.Builder
	n int
	// The last time written and its text: a batch's times are mostly the
	// same instant (its now, its period's expiry).
	lastTime time.Time
	lastText []byte
}

func (a *pgArray) sep() {
	if a.n > 0 {
		a.b.WriteByte(',')
	}
	a.n++
}

func (a *pgArray) null() {
	a.sep()
	a.b.WriteString("NULL")
}

func (a *pgArray) str(s string) {
	a.sep()
	a.b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			a.b.WriteByte('\\')
		}
		a.b.WriteByte(s[i])
	}
	a.b.WriteByte('"')
}

// nullStr writes "" as NULL.
func (a *pgArray) nullStr(s string) {
	if s == "" {
		a.null()
		return
	}
	a.str(s)
}

func (a *pgArray) int(n int64) {
	a.sep()
	a.b.WriteString(strconv.FormatInt(n, 10))
}

func (a *pgArray) bool(v bool) {
	a.sep()
	if v {
		a.b.WriteByte('t')
	} else {
		a.b.WriteByte('f')
	}
}

const pgTimeFormat = "2006-01-02 15:04:05.999999-07:00"

func (a *pgArray) time(t time.Time) {
	a.sep()
	a.b.WriteByte('"')
	if a.lastText == nil || !t.Equal(a.lastTime) {
		a.lastTime = t
		a.lastText = utc(t).AppendFormat(a.lastText[:0], pgTimeFormat)
	}
	a.b.Write(a.lastText)
	a.b.WriteByte('"')
}

func (a *pgArray) nullTime(t *time.Time) {
	if t == nil {
		a.null()
		return
	}
	a.time(*t)
}

func (a *pgArray) String() string { return "{" + a.b.String() + "}" }

// literal returns the array as a quoted SQL string literal that bun
// appends as it is (bun.Safe): a batch's arrays are large, and quoting
// them here, in one pass, spares bun from copying and escaping them again.
// PostgreSQL runs with standard_conforming_strings on (pgx's simple
// protocol requires it), so only single quotes need doubling.
func (a *pgArray) literal() bun.Safe {
	body := a.b.String()
	var sb strings.Builder
	sb.Grow(len(body) + 4)
	sb.WriteString("'{")
	if strings.IndexByte(body, '\'') >= 0 {
		body = strings.ReplaceAll(body, "'", "''")
	}
	sb.WriteString(body)
	sb.WriteString("}'")
	return bun.Safe(sb.String())
}

// pgStrings returns ss as a PostgreSQL text[] literal.
func pgStrings(ss []string) string {
	var a pgArray
	for _, s := range ss {
		a.str(s)
	}
	return a.String()
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
