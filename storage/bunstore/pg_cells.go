package bunstore

import (
	"strings"
	"time"

	"github.com/uptrace/bun/dialect/pgdialect"
)

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
	blobs  [][]byte     // blob: nil for NULL
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

// nullInt adds n, or NULL when not valid.
func (a *pgArray) nullInt(n int64, valid bool) {
	a.kind = arrayNullInt
	if !valid {
		a.nints = append(a.nints, nil)
		return
	}
	a.nints = append(a.nints, &n)
}

func (a *pgArray) bool(v bool) { a.kind, a.bools = arrayBool, append(a.bools, v) }

// blob adds b (empty: NULL).
func (a *pgArray) blob(b []byte) {
	if len(b) == 0 {
		b = nil
	}
	a.kind, a.blobs = arrayBytes, append(a.blobs, b)
}

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

// pgRows are the rows of a batch as cells: one pgArray per column, for
// one unnest argument per column.
type pgRows struct {
	cols []pgArray
	i    int // the column the next value goes to
}

func (r *pgRows) next() *pgArray { r.i++; return &r.cols[r.i-1] }

func (r *pgRows) str(s string)                { r.next().str(s) }
func (r *pgRows) nullStr(s string)            { r.next().nullStr(s) }
func (r *pgRows) int(n int64)                 { r.next().int(n) }
func (r *pgRows) nullInt(n int64, valid bool) { r.next().nullInt(n, valid) }
func (r *pgRows) bool(v bool)                 { r.next().bool(v) }
func (r *pgRows) time(t time.Time)            { r.next().time(t) }
func (r *pgRows) nullTime(t *time.Time)       { r.next().nullTime(t) }
func (r *pgRows) blob(b []byte)               { r.next().blob(b) }

// pgColumnArgs returns the rows vs as one array argument per column of
// cs (see pgArray.arg).
func pgColumnArgs[T any](cs columns[T], vs []T, native bool) []any {
	r := pgRows{cols: make([]pgArray, len(cs))}
	for i := range vs {
		r.i = 0
		cs.put(&r, &vs[i])
	}
	out := make([]any, len(cs))
	for i := range r.cols {
		out[i] = r.cols[i].arg(native)
	}
	return out
}

// pgUnnest returns "unnest(?::type[], ...)" over the columns of cs.
func (cs columns[T]) pgUnnest() string {
	casts := make([]string, len(cs))
	for i, c := range cs {
		casts[i] = "?::" + c.pgType + "[]"
	}
	return "unnest(" + strings.Join(casts, ", ") + ")"
}

// in implements loader: "col = ANY(?::text[])" with one argument.
func (t *tx) in(col string, values []string) (string, []any, error) {
	in, arg := t.inList(col, values)
	return in, []any{arg}, nil
}
