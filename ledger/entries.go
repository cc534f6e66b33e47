package ledger

import (
	"context"
	"fmt"
	"strconv"

	"github.com/creditledger/creditledger/storage"
)

// Paging limits of Entries.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// ListOpts are the options of Entries. Nil means the defaults.
type ListOpts struct {
	// Limit is the page size: default DefaultPageSize, at most
	// MaxPageSize.
	Limit int
	// Cursor is the NextCursor of the previous page; empty for the first
	// page (the newest entries).
	Cursor string
	// Pool, when not nil, lists the entries of that pool only ("" the
	// default pool); nil: every pool. A cursor pages on within the pool
	// it was made for.
	Pool *string
}

// EntryPage is one page of an account's entries.
type EntryPage struct {
	Entries []Entry // newest first
	// NextCursor fetches the next (older) page; empty on the last page.
	NextCursor string
}

// Entries returns an account's history, newest first, a page at a time.
// Pages are stable under concurrent writes: new entries never shift an
// older page.
//
// Errors: ErrNotFound for an account never written to;
// ErrInvalidArgument for a bad account id, limit or cursor.
func (l *Ledger) Entries(ctx context.Context, account string, opts *ListOpts) (_ *EntryPage, err error) {
	ctx, call := l.tel.begin(ctx, opEntries)
	defer func() { call.end(ctx, false, err) }()
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	var o ListOpts
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Limit == 0:
		o.Limit = DefaultPageSize
	case o.Limit < 0 || o.Limit > MaxPageSize:
		return nil, fmt.Errorf("%w: limit %d is outside 1..%d", ErrInvalidArgument, o.Limit, MaxPageSize)
	}
	var before int64
	if o.Cursor != "" {
		// The cursor is the Seq of the last entry of the previous page;
		// callers treat it as opaque.
		n, err := strconv.ParseInt(o.Cursor, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: cursor %q is malformed", ErrInvalidArgument, o.Cursor)
		}
		before = n
	}
	if _, err := l.store.Account(ctx, account); err != nil {
		return nil, accountError(account, err)
	}
	// One more than asked tells whether another page follows.
	if o.Pool != nil {
		if err := checkPool(*o.Pool); err != nil {
			return nil, err
		}
	}
	rs, err := l.store.Entries(ctx, storage.EntryQuery{Account: account, BeforeSeq: before, Limit: o.Limit + 1, Pool: o.Pool})
	if err != nil {
		return nil, fmt.Errorf("creditledger: read entries of account %q: %w", account, err)
	}
	page := &EntryPage{}
	if len(rs) > o.Limit {
		rs = rs[:o.Limit]
		page.NextCursor = strconv.FormatInt(rs[len(rs)-1].Seq, 10)
	}
	page.Entries = l.entriesOut(rs)
	return page, nil
}
