package bunstore

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// The column mapping of every table: for each column, in the order of
// the statements that write and read it, its name, its PostgreSQL type,
// how a record's field is written (put, to the cells of either dialect:
// pgRow's arrays or sqlValues' literals) and where it is read into (scan,
// a destination for rows.Scan). Both dialects' writers and readers take
// their column lists, values and scan destinations from here, so a column
// added to a table is added once.

// cells receives the values of one row, one call per column in order.
// Optional values are written as NULL: "" (nullStr), a nil time
// (nullTime), an empty blob, an integer that is not valid (nullInt).
type cells interface {
	str(s string)
	nullStr(s string)
	int(n int64)
	nullInt(n int64, valid bool)
	bool(v bool)
	time(t time.Time)
	nullTime(t *time.Time)
	blob(b []byte)
}

// column is one column of a table of records of type T.
type column[T any] struct {
	name   string
	pgType string          // element type of the column's unnest array
	put    func(cells, *T) // writes the record's value of the column
	scan   func(*T) any    // the destination the column is read into; nil: never read
}

// columns are a table's columns in order.
type columns[T any] []column[T]

// list returns the column names, each prefixed ("" or "a."), comma
// separated.
func (cs columns[T]) list(prefix string) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = prefix + c.name
	}
	return strings.Join(names, ", ")
}

// index returns the position of the column named name; it panics for an
// unknown name (a mistake in this package, caught by any test).
func (cs columns[T]) index(name string) int {
	for i, c := range cs {
		if c.name == name {
			return i
		}
	}
	panic("bunstore: no column " + name)
}

// put writes every column of v.
func (cs columns[T]) put(c cells, v *T) {
	for _, col := range cs {
		col.put(c, v)
	}
}

// scanner returns a function scanning a row of cs (as selected by
// cs.list) into a T.
func (cs columns[T]) scanner() func(rowScanner) (T, error) {
	return func(r rowScanner) (T, error) {
		var v T
		dest := make([]any, len(cs))
		for i, c := range cs {
			dest[i] = c.scan(&v)
		}
		err := r.Scan(dest...)
		return v, err
	}
}

// The tables' columns. The types of their scan destinations are in
// codec.go.

var accountColumns = columns[storage.Account]{
	{"id", "text", nil, func(a *storage.Account) any { return (*text)(&a.ID) }},
	{"plan", "text", nil, func(a *storage.Account) any { return (*text)(&a.Plan) }},
	{"anchor", "timestamptz", nil, func(a *storage.Account) any { return (*utcTime)(&a.Anchor) }},
	{"balance", "bigint", nil, func(a *storage.Account) any { return (*integer)(&a.Balance) }},
	{"seq", "bigint", nil, func(a *storage.Account) any { return (*integer)(&a.Seq) }},
	{"head_hash", "bytea", nil, func(a *storage.Account) any { return (*blob)(&a.HeadHash) }},
	{"created_at", "timestamptz", nil, func(a *storage.Account) any { return (*utcTime)(&a.CreatedAt) }},
	{"next_grant_at", "timestamptz", nil, func(a *storage.Account) any { return nullTime{&a.NextGrantAt} }},
	{"next_expiry_at", "timestamptz", nil, func(a *storage.Account) any { return nullTime{&a.NextExpiryAt} }},
	// Schema 6.
	{"multi_pool", "bool", nil, func(a *storage.Account) any { return (*boolean)(&a.MultiPool) }},
}

var lotColumns = columns[storage.Lot]{
	{"id", "text", func(c cells, l *storage.Lot) { c.str(l.ID) }, func(l *storage.Lot) any { return (*text)(&l.ID) }},
	{"account_id", "text", func(c cells, l *storage.Lot) { c.str(l.Account) }, func(l *storage.Lot) any { return (*text)(&l.Account) }},
	{"operation_id", "text", func(c cells, l *storage.Lot) { c.str(l.OperationID) }, func(l *storage.Lot) any { return (*text)(&l.OperationID) }},
	{"source", "text", func(c cells, l *storage.Lot) { c.str(l.Source) }, func(l *storage.Lot) any { return (*text)(&l.Source) }},
	{"amount", "bigint", func(c cells, l *storage.Lot) { c.int(l.Amount) }, func(l *storage.Lot) any { return (*integer)(&l.Amount) }},
	{"remaining", "bigint", func(c cells, l *storage.Lot) { c.int(l.Remaining) }, func(l *storage.Lot) any { return (*integer)(&l.Remaining) }},
	{"priority", "bigint", func(c cells, l *storage.Lot) { c.int(int64(l.Priority)) }, func(l *storage.Lot) any { return (*smallInt)(&l.Priority) }},
	{"expires_at", "timestamptz", func(c cells, l *storage.Lot) { c.nullTime(l.ExpiresAt) }, func(l *storage.Lot) any { return nullTime{&l.ExpiresAt} }},
	{"created_at", "timestamptz", func(c cells, l *storage.Lot) { c.time(l.CreatedAt) }, func(l *storage.Lot) any { return (*utcTime)(&l.CreatedAt) }},
	// Schema 6: pools, dated grants, debt lots.
	{"pool", "text", func(c cells, l *storage.Lot) { c.str(l.Pool) }, func(l *storage.Lot) any { return (*text)(&l.Pool) }},
	{"effective_at", "timestamptz", func(c cells, l *storage.Lot) { c.nullTime(l.EffectiveAt) }, func(l *storage.Lot) any { return nullTime{&l.EffectiveAt} }},
	{"debt", "bool", func(c cells, l *storage.Lot) { c.bool(l.Debt) }, func(l *storage.Lot) any { return (*boolean)(&l.Debt) }},
}

var entryColumns = columns[storage.Entry]{
	{"id", "text", func(c cells, e *storage.Entry) { c.str(e.ID) }, func(e *storage.Entry) any { return (*text)(&e.ID) }},
	{"account_id", "text", func(c cells, e *storage.Entry) { c.str(e.Account) }, func(e *storage.Entry) any { return (*text)(&e.Account) }},
	{"seq", "bigint", func(c cells, e *storage.Entry) { c.int(e.Seq) }, func(e *storage.Entry) any { return (*integer)(&e.Seq) }},
	{"operation_id", "text", func(c cells, e *storage.Entry) { c.str(e.OperationID) }, func(e *storage.Entry) any { return (*text)(&e.OperationID) }},
	{"lot_id", "text", func(c cells, e *storage.Entry) { c.nullStr(e.LotID) }, func(e *storage.Entry) any { return (*text)(&e.LotID) }},
	{"kind", "text", func(c cells, e *storage.Entry) { c.str(string(e.Kind)) }, func(e *storage.Entry) any { return (*text)(&e.Kind) }},
	{"amount", "bigint", func(c cells, e *storage.Entry) { c.int(e.Amount) }, func(e *storage.Entry) any { return (*integer)(&e.Amount) }},
	{"balance_after", "bigint", func(c cells, e *storage.Entry) { c.int(e.BalanceAfter) }, func(e *storage.Entry) any { return (*integer)(&e.BalanceAfter) }},
	{"source", "text", func(c cells, e *storage.Entry) { c.str(e.Source) }, func(e *storage.Entry) any { return (*text)(&e.Source) }},
	{"description", "text", func(c cells, e *storage.Entry) { c.str(e.Description) }, func(e *storage.Entry) any { return (*text)(&e.Description) }},
	{"metadata", "jsonb", func(c cells, e *storage.Entry) { c.nullStr(metadataJSON(e.Metadata)) }, func(e *storage.Entry) any { return (*metadataCol)(&e.Metadata) }},
	{"created_at", "timestamptz", func(c cells, e *storage.Entry) { c.time(e.CreatedAt) }, func(e *storage.Entry) any { return (*utcTime)(&e.CreatedAt) }},
	{"expires_at", "timestamptz", func(c cells, e *storage.Entry) { c.nullTime(e.ExpiresAt) }, func(e *storage.Entry) any { return nullTime{&e.ExpiresAt} }},
	{"idempotency_key", "text", func(c cells, e *storage.Entry) { c.nullStr(e.Key) }, func(e *storage.Entry) any { return (*text)(&e.Key) }},
	{"param_hash", "text", func(c cells, e *storage.Entry) { c.nullStr(e.ParamHash) }, func(e *storage.Entry) any { return (*text)(&e.ParamHash) }},
	// available is recorded on a call's first entry only: the one with a
	// key, or (an unkeyed call's) with a non-zero available; NULL on the
	// others.
	{"available", "bigint", func(c cells, e *storage.Entry) { c.nullInt(e.Available, e.Key != "" || e.Available != 0) },
		func(e *storage.Entry) any { return (*integer)(&e.Available) }},
	{"hash", "bytea", func(c cells, e *storage.Entry) { c.blob(e.Hash) }, func(e *storage.Entry) any { return (*blob)(&e.Hash) }},
	{"ref", "text", func(c cells, e *storage.Entry) { c.nullStr(e.Ref) }, func(e *storage.Entry) any { return (*text)(&e.Ref) }},
	// Schema 6: pools, feature prices, dated grants.
	{"pool", "text", func(c cells, e *storage.Entry) { c.str(e.Pool) }, func(e *storage.Entry) any { return (*text)(&e.Pool) }},
	{"feature", "text", func(c cells, e *storage.Entry) { c.nullStr(e.Feature) }, func(e *storage.Entry) any { return (*text)(&e.Feature) }},
	{"quantity", "text", func(c cells, e *storage.Entry) { c.nullStr(e.Quantity) }, func(e *storage.Entry) any { return (*text)(&e.Quantity) }},
	{"effective_at", "timestamptz", func(c cells, e *storage.Entry) { c.nullTime(e.EffectiveAt) }, func(e *storage.Entry) any { return nullTime{&e.EffectiveAt} }},
}

// entryColumnsV3 are the entry columns before schema 4 added ref: the
// schema-3 hash-chain migration reads them, with NULL for ref, into
// entryColumnsV5 (scanEntryV5), the columns before schema 6.
var (
	entryColumnsV3 = entryColumns[:entryColumns.index("ref")]
	entryColumnsV5 = entryColumns[:entryColumns.index("pool")]
	scanEntryV5    = entryColumnsV5.scanner()
)

// callColumns read a keyed call from its first entry.
var callColumns = columns[storage.Operation]{
	{"operation_id", "text", nil, func(o *storage.Operation) any { return (*text)(&o.ID) }},
	{"idempotency_key", "text", nil, func(o *storage.Operation) any { return (*text)(&o.Key) }},
	{"kind", "text", nil, func(o *storage.Operation) any { return (*text)(&o.Kind) }},
	{"account_id", "text", nil, func(o *storage.Operation) any { return (*text)(&o.Account) }},
	{"param_hash", "text", nil, func(o *storage.Operation) any { return (*text)(&o.Hash) }},
	{"available", "bigint", nil, func(o *storage.Operation) any { return (*integer)(&o.Available) }},
	{"seq", "bigint", nil, func(o *storage.Operation) any { return (*integer)(&o.Seq) }},
	{"created_at", "timestamptz", nil, func(o *storage.Operation) any { return (*utcTime)(&o.CreatedAt) }},
}

var holdColumns = columns[storage.Hold]{
	{"account_id", "text", func(c cells, h *storage.Hold) { c.str(h.Account) }, func(h *storage.Hold) any { return (*text)(&h.Account) }},
	{"id", "text", func(c cells, h *storage.Hold) { c.str(h.ID) }, func(h *storage.Hold) any { return (*text)(&h.ID) }},
	{"amount", "bigint", func(c cells, h *storage.Hold) { c.int(h.Amount) }, func(h *storage.Hold) any { return (*integer)(&h.Amount) }},
	{"captured", "bigint", func(c cells, h *storage.Hold) { c.int(h.Captured) }, func(h *storage.Hold) any { return (*integer)(&h.Captured) }},
	{"state", "text", func(c cells, h *storage.Hold) { c.str(string(h.State)) }, func(h *storage.Hold) any { return (*text)(&h.State) }},
	{"expires_at", "timestamptz", func(c cells, h *storage.Hold) { c.time(h.ExpiresAt) }, func(h *storage.Hold) any { return (*utcTime)(&h.ExpiresAt) }},
	{"created_at", "timestamptz", func(c cells, h *storage.Hold) { c.time(h.CreatedAt) }, func(h *storage.Hold) any { return (*utcTime)(&h.CreatedAt) }},
	{"ended_at", "timestamptz", func(c cells, h *storage.Hold) { c.nullTime(h.EndedAt) }, func(h *storage.Hold) any { return nullTime{&h.EndedAt} }},
	{"end_operation_id", "text", func(c cells, h *storage.Hold) { c.nullStr(h.EndOperationID) }, func(h *storage.Hold) any { return (*text)(&h.EndOperationID) }},
	{"lines", "jsonb", func(c cells, h *storage.Hold) { c.str(linesJSON(h.Lines)) }, func(h *storage.Hold) any { return linesCol{&h.Lines} }},
	// Schema 6: pools.
	{"pool", "text", func(c cells, h *storage.Hold) { c.str(h.Pool) }, func(h *storage.Hold) any { return (*text)(&h.Pool) }},
}

// The column lists of the tables' reads, and the scanners of their rows
// (in the lists' order).
var (
	accountCols, scanAccount = accountColumns.list(""), accountColumns.scanner()
	lotCols, scanLot         = lotColumns.list(""), lotColumns.scanner()
	entryCols, scanEntry     = entryColumns.list(""), entryColumns.scanner()
	callCols, scanCall       = callColumns.list(""), callColumns.scanner()
	holdCols, scanHold       = holdColumns.list(""), holdColumns.scanner()
)

// The rows of the updates a batch makes: written, never read.

var debitColumns = columns[storage.LotDebit]{
	{"account_id", "text", func(c cells, d *storage.LotDebit) { c.str(d.Account) }, nil},
	{"id", "text", func(c cells, d *storage.LotDebit) { c.str(d.LotID) }, nil},
	{"amount", "bigint", func(c cells, d *storage.LotDebit) { c.int(d.Amount) }, nil},
}

var accountUpdateColumns = columns[storage.AccountUpdate]{
	{"id", "text", func(c cells, u *storage.AccountUpdate) { c.str(u.ID) }, nil},
	{"balance", "bigint", func(c cells, u *storage.AccountUpdate) { c.int(u.Balance) }, nil},
	{"seq", "bigint", func(c cells, u *storage.AccountUpdate) { c.int(u.Seq) }, nil},
	// NULL keeps the stored head (an update that writes no entry).
	{"head_hash", "bytea", func(c cells, u *storage.AccountUpdate) { c.blob(u.HeadHash) }, nil},
	{"next_grant_at", "timestamptz", func(c cells, u *storage.AccountUpdate) { c.nullTime(u.NextGrantAt) }, nil},
	{"next_expiry_at", "timestamptz", func(c cells, u *storage.AccountUpdate) { c.nullTime(u.NextExpiryAt) }, nil},
	{"set_plan", "bool", func(c cells, u *storage.AccountUpdate) { c.bool(u.SetPlan) }, nil},
	{"multi_pool", "bool", func(c cells, u *storage.AccountUpdate) { c.bool(u.MultiPool) }, nil},
	{"plan", "text", func(c cells, u *storage.AccountUpdate) { c.str(u.Plan) }, nil},
	// The anchor is NULL unless the update sets the plan with one.
	{"anchor", "timestamptz", func(c cells, u *storage.AccountUpdate) {
		if u.SetPlan && !u.Anchor.IsZero() {
			c.nullTime(&u.Anchor)
		} else {
			c.nullTime(nil)
		}
	}, nil},
}

// lotExpiryColumns set a lot's expiry (Batch.LotExpiries).
var lotExpiryColumns = columns[storage.LotExpiry]{
	{"account_id", "text", func(c cells, x *storage.LotExpiry) { c.str(x.Account) }, nil},
	{"id", "text", func(c cells, x *storage.LotExpiry) { c.str(x.LotID) }, nil},
	{"expires_at", "timestamptz", func(c cells, x *storage.LotExpiry) { c.nullTime(x.ExpiresAt) }, nil},
}

var holdEndColumns = columns[storage.HoldUpdate]{
	{"account_id", "text", func(c cells, u *storage.HoldUpdate) { c.str(u.Account) }, nil},
	{"id", "text", func(c cells, u *storage.HoldUpdate) { c.str(u.ID) }, nil},
	{"state", "text", func(c cells, u *storage.HoldUpdate) { c.str(string(u.State)) }, nil},
	{"captured", "bigint", func(c cells, u *storage.HoldUpdate) { c.int(u.Captured) }, nil},
	{"ended_at", "timestamptz", func(c cells, u *storage.HoldUpdate) { c.time(u.EndedAt) }, nil},
	{"end_operation_id", "text", func(c cells, u *storage.HoldUpdate) { c.str(u.EndOperationID) }, nil},
}

// hashFill sets the hash of an entry written before schema 3.
type hashFill struct {
	account string
	seq     int64
	hash    []byte
}

var hashFillColumns = columns[hashFill]{
	{"account_id", "text", func(c cells, f *hashFill) { c.str(f.account) }, nil},
	{"seq", "bigint", func(c cells, f *hashFill) { c.int(f.seq) }, nil},
	{"hash", "bytea", func(c cells, f *hashFill) { c.blob(f.hash) }, nil},
}

// headColumns set an account's head_hash (hashFill's seq unused).
var headColumns = columns[hashFill]{
	{"id", "text", func(c cells, f *hashFill) { c.str(f.account) }, nil},
	{"hash", "bytea", func(c cells, f *hashFill) { c.blob(f.hash) }, nil},
}

// metadataJSON is an entry's metadata as stored: a JSON object, or ""
// (NULL) when empty. Marshalling a map of strings cannot fail; its text
// was checked by prepare.
func metadataJSON(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// holdLine is a hold line as stored in the lines column.
type holdLine struct {
	Lot    string `json:"lot"`
	Amount int64  `json:"amount"`
}

// linesJSON is a hold's lines as stored: a JSON array of {lot, amount}.
func linesJSON(lines []storage.HoldLine) string {
	out := make([]holdLine, len(lines))
	for i, ln := range lines {
		out[i] = holdLine{Lot: ln.LotID, Amount: ln.Amount}
	}
	b, _ := json.Marshal(out)
	return string(b)
}
