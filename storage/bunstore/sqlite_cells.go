package bunstore

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// micros is a time as SQLite stores it: microseconds since the Unix epoch.
func micros(t time.Time) int64 { return utc(t).UnixMicro() }

// sqliteRowsPerStatement bounds the rows of one multi-row statement
// (twice the distribution's default chunk): a larger batch (SetPlans of
// many accounts) takes one statement per this many rows.
const sqliteRowsPerStatement = 2000

// sqlValues collects rows as SQL literals, for one statement over all of
// them: the cells of the SQLite path.
//
// The store's modernc driver compiles a statement each time it runs it
// (its prepared statements keep only the SQL text), so a fixed text with
// bound arguments saves no compilation, and binding costs a call per
// argument; parsing literals is what costs SQLite least, and less than
// one JSON argument read through json_each (docs/BENCHMARKS.md has the
// measurements). A column whose value is the same in every row (a
// distribution chunk's kind, source, amount, times...) is written once,
// in the statement's SELECT list, instead of once per row. Strings reach
// here checked (checkText: valid UTF-8, no NUL byte) and are quoted by
// doubling single quotes, the only escape in a SQLite string literal;
// BLOBs are X'hex'.
type sqlValues struct {
	b    []byte // every cell's literal, back to back
	ends []int  // where each cell ends in b
	rows int
}

func (j *sqlValues) reset() {
	j.b, j.ends, j.rows = j.b[:0], j.ends[:0], 0
}

// row starts a row.
func (j *sqlValues) row() { j.rows++ }

// cell returns the literal of column c of row r.
func (j *sqlValues) cell(r, c, cols int) []byte {
	k := r*cols + c
	start := 0
	if k > 0 {
		start = j.ends[k-1]
	}
	return j.b[start:j.ends[k]]
}

// statement returns make's statement over the rows (see execRows).
func (j *sqlValues) statement(build func(col func(i int) string, values string) string) string {
	cols := len(j.ends) / j.rows
	// Column 0 always varies, so that VALUES has a column.
	varying := make([]int, cols) // 0: constant, k: the VALUES' column k
	n := 0
	for c := range cols {
		first := j.cell(0, c, cols)
		same := c > 0
		for r := 1; same && r < j.rows; r++ {
			same = string(j.cell(r, c, cols)) == string(first)
		}
		if !same {
			n++
			varying[c] = n
		}
	}
	var sb strings.Builder
	sb.Grow(len(j.b) + 8*len(j.ends))
	sb.WriteString("VALUES ")
	for r := range j.rows {
		if r > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		first := true
		for c := range cols {
			if varying[c] == 0 {
				continue
			}
			if !first {
				sb.WriteByte(',')
			}
			first = false
			sb.Write(j.cell(r, c, cols))
		}
		sb.WriteByte(')')
	}
	return build(func(c int) string {
		if varying[c] == 0 {
			return string(j.cell(0, c, cols))
		}
		return "column" + strconv.Itoa(varying[c])
	}, sb.String())
}

func (j *sqlValues) end() { j.ends = append(j.ends, len(j.b)) }

func (j *sqlValues) null() { j.b = append(j.b, "NULL"...); j.end() }

func (j *sqlValues) str(s string) { j.b = appendSQLString(j.b, s); j.end() }

// nullStr adds "" as NULL.
func (j *sqlValues) nullStr(s string) {
	if s == "" {
		j.null()
		return
	}
	j.str(s)
}

func (j *sqlValues) int(n int64) { j.b = strconv.AppendInt(j.b, n, 10); j.end() }

// nullInt adds n, or NULL when not valid.
func (j *sqlValues) nullInt(n int64, valid bool) {
	if !valid {
		j.null()
		return
	}
	j.int(n)
}

// bool adds v as 1 or 0.
func (j *sqlValues) bool(v bool) {
	if v {
		j.int(1)
	} else {
		j.int(0)
	}
}

// literal returns the literal of column c of the first row, for a
// statement of one row.
func (j *sqlValues) literal(c int) string { return string(j.cell(0, c, len(j.ends)/j.rows)) }

func (j *sqlValues) time(t time.Time) { j.int(micros(t)) }

// nullTime adds nil as NULL.
func (j *sqlValues) nullTime(t *time.Time) {
	if t == nil {
		j.null()
		return
	}
	j.time(*t)
}

// blob adds b as X'...', or NULL when b is empty.
func (j *sqlValues) blob(b []byte) {
	if len(b) == 0 {
		j.null()
		return
	}
	j.b = append(j.b, 'X', '\'')
	j.b = hex.AppendEncode(j.b, b)
	j.b = append(j.b, '\'')
	j.end()
}

// appendSQLString appends s as a SQLite string literal.
func appendSQLString(b []byte, s string) []byte {
	b = append(b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '\'')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '\'')
}
