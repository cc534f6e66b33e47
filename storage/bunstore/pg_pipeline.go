package bunstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/creditledger/creditledger/storage"
)

// A transaction on PostgreSQL with prepared statements (see pg_prepared.go)
// runs on one pgx connection taken from the pool with database/sql's
// Conn.Raw, so that it can pipeline: BEGIN goes out with the
// transaction's first statement, and Apply's statement with COMMIT. A
// consume is then two round trips (BEGIN and the lock; Apply and COMMIT)
// where database/sql would make four, and the account's lock is held for
// one round trip to the client instead of two.
//
// Apply is deferred to make that possible: its statement is built and
// checked at once, and sent with COMMIT, or before the transaction's next
// statement if there is one. Its outcome is the transaction's: whatever
// would make it fail (a duplicate key, a lot short of its debit, a
// missing lot or account) fails the statement itself, so COMMIT never
// runs after a failed Apply, and Store.Tx returns the error.

// staleConnRetries bounds how many pooled connections a transaction may
// find dead at its first round trip before it gives up.
const staleConnRetries = 2

// staleConnError is the error of a pipelined transaction whose first
// round trip found its pooled connection dead: nothing of it can have
// happened, and Store.retry runs it again on another connection (up to
// staleConnRetries times, without backoff).
//
// A pooled connection can be dead without the pool knowing (the server
// ended it, or the network dropped it; pgx checks an idle connection only
// after a second). database/sql would find out at BEGIN and take another
// connection; here BEGIN goes out with the first statement.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// pipelinedTx runs fn in a transaction on one pgx connection of the pool;
// see staleConnError for its one failure that Store.retry heals.
func (s *Store) pipelinedTx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) error {
	stale, err := s.pipelinedTxOnce(ctx, fn)
	if stale {
		return &staleConnError{err}
	}
	return err
}

func (s *Store) pipelinedTxOnce(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) (stale bool, err error) {
	conn, err := s.db.DB.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close() }()
	var t *tx
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("bunstore: pipelined transaction on a %T connection", dc)
		}
		t = &tx{s: s, pc: sc.Conn()}
		if tracer, ok := t.pc.Config().Tracer.(pgx.QueryTracer); ok {
			t.tracer = tracer
		}
		err := fn(ctx, t)
		if err == nil {
			// database/sql rolls back a transaction whose context ended;
			// so does this one.
			err = ctx.Err()
		}
		if err != nil {
			t.rollback(ctx)
			return err
		}
		// As with database/sql, COMMIT (and here the Apply sent with it)
		// is not cut short by ctx: a cancellation while it is in flight
		// would report failure for a write the server committed.
		return t.finish(context.WithoutCancel(ctx))
	})
	return t != nil && t.stale, err
}

// builderPool keeps pgx's argument encoders between transactions: a
// chunk's batch encodes to hundreds of kilobytes of binary arrays, and a
// fresh encoder grows its buffer by doubling every time. An encoder is
// reused once its statement is queued on the pipeline (pgconn copies the
// Bind message), so each transaction holds one at most per statement it
// builds.
type builderPool struct{ p sync.Pool }

func (b *builderPool) get() *pgx.ExtendedQueryBuilder {
	if eqb, ok := b.p.Get().(*pgx.ExtendedQueryBuilder); ok {
		return eqb
	}
	return &pgx.ExtendedQueryBuilder{}
}

func (b *builderPool) put(eqb *pgx.ExtendedQueryBuilder) { b.p.Put(eqb) }

// pendingApply is an Apply statement waiting to be sent.
type pendingApply struct {
	query string
	args  []any
	batch *storage.Batch
}

// pgxRows is pgx.Rows as a rowsIter; after, if set, ends the pipeline the
// rows came in. Close may be called more than once, as with *sql.Rows.
type pgxRows struct {
	pgx.Rows
	after  func() error
	closed bool
	err    error
}

func (r *pgxRows) Close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.Rows.Err()
	if r.after != nil {
		if aerr := r.after(); r.err == nil {
			r.err = aerr
		}
	}
	return r.err
}

// query implements queryer: on a pipelined tx it sends any deferred Apply,
// then the statement (with BEGIN if it is the first); otherwise it runs it
// on t.idb.
func (t *tx) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	if t.pc == nil {
		return t.idb.QueryContext(ctx, query, args...)
	}
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.run(ctx, numbered(query), args)
}

// exec runs a statement and discards its rows.
func (t *tx) exec(ctx context.Context, query string, args ...any) error {
	if t.pc == nil {
		_, err := t.idb.ExecContext(ctx, query, args...)
		return err
	}
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return rows.Close()
}

// run sends a numbered statement as a prepared statement, with BEGIN in
// front if the transaction has not begun.
func (t *tx) run(ctx context.Context, query string, args []any) (_ rowsIter, err error) {
	if !t.begun && !t.sent {
		// The transaction's first round trip: see pipelinedTx.
		t.sent = true
		defer func() { t.stale = err != nil && t.pc.IsClosed() }()
	}
	if t.begun {
		// pgx traces this one itself.
		var rows pgx.Rows
		if t.s.pgxMode() == viaPgxPrepared {
			if _, err := t.pc.Prepare(ctx, query, query); err != nil {
				return nil, err
			}
			rows, err = t.pc.Query(ctx, query, args...)
		} else {
			rows, err = t.pc.Query(ctx, query, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
		}
		if err != nil {
			return nil, err
		}
		return &pgxRows{Rows: rows}, nil
	}
	sd, err := t.describe(ctx, query)
	if err != nil {
		return nil, err
	}
	eqb := t.s.builders.get()
	defer t.s.builders.put(eqb)
	if err := eqb.Build(t.pc.TypeMap(), sd, args); err != nil {
		return nil, err
	}
	p, err := t.sendPipeline(ctx, []*pgconn.StatementDescription{sd}, []*pgx.ExtendedQueryBuilder{eqb})
	if err != nil {
		return nil, err
	}
	qctx := t.traceStart(ctx, query, args)
	rows, err := t.nextRows(p)
	if err != nil {
		t.traceEnd(qctx, err)
		_ = p.Close()
		return nil, err
	}
	return &pgxRows{Rows: rows, after: func() error {
		t.traceEnd(qctx, rows.Err())
		return endPipeline(p)
	}}, nil
}

// sendPipeline sends, in one round trip, BEGIN when the transaction has
// not begun, then the statements sds with their arguments eqbs, and reads
// BEGIN's result: the statements' results are next on the pipeline it
// returns, in their order. On an error the pipeline is closed.
func (t *tx) sendPipeline(ctx context.Context, sds []*pgconn.StatementDescription, eqbs []*pgx.ExtendedQueryBuilder) (*pgconn.Pipeline, error) {
	p := t.pc.PgConn().StartPipeline(ctx)
	begin := !t.begun
	if begin {
		p.SendQueryParams("begin", nil, nil, nil, nil)
	}
	for i, sd := range sds {
		t.send(p, sd, eqbs[i])
	}
	err := p.Sync()
	t.begun = true // rollback from here on: BEGIN may have reached the server
	if err == nil && begin {
		bctx := t.traceStart(ctx, "begin", nil)
		err = readCommand(p)
		t.traceEnd(bctx, err)
	}
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// nextRows reads the next result of p as rows.
func (t *tx) nextRows(p *pgconn.Pipeline) (pgx.Rows, error) {
	res, err := p.GetResults()
	if err != nil {
		return nil, err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return nil, fmt.Errorf("bunstore: pipeline: %T where rows were due", res)
	}
	return pgx.RowsFromResultReader(t.pc.TypeMap(), rr), nil
}

// describe returns the description of a numbered statement on t's
// connection: prepared once per connection (viaPgxPrepared), or, for
// unnamed statements (viaPgxUnnamed), described once per store and cached
// (a statement's parameter and result types are the same on every
// connection to the schema).
func (t *tx) describe(ctx context.Context, query string) (*pgconn.StatementDescription, error) {
	if t.s.pgxMode() == viaPgxPrepared {
		return t.pc.Prepare(ctx, query, query)
	}
	if sd, ok := t.s.descs.Load(query); ok {
		return sd.(*pgconn.StatementDescription), nil
	}
	sd, err := t.pc.Prepare(ctx, "", query) // the unnamed statement: Parse and Describe only
	if err != nil {
		return nil, err
	}
	t.s.descs.Store(query, sd)
	return sd, nil
}

// send queues a statement with its encoded arguments on p: by name when
// prepared, else as an unnamed statement parsed again (one round trip
// either way, with the rest of the pipeline).
func (t *tx) send(p *pgconn.Pipeline, sd *pgconn.StatementDescription, eqb *pgx.ExtendedQueryBuilder) {
	if t.s.pgxMode() == viaPgxPrepared {
		p.SendQueryPrepared(sd.Name, eqb.ParamValues, eqb.ParamFormats, eqb.ResultFormats)
		return
	}
	p.SendQueryParams(sd.SQL, eqb.ParamValues, sd.ParamOIDs, eqb.ParamFormats, eqb.ResultFormats)
}

// readCommand reads the result of a statement without rows (BEGIN,
// COMMIT) from p.
func readCommand(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	if rr, ok := res.(*pgconn.ResultReader); ok {
		_, err = rr.Close()
		return err
	}
	return fmt.Errorf("bunstore: pipeline: %T where a command's result was due", res)
}

// endPipeline reads p up to its sync point and closes it.
func endPipeline(p *pgconn.Pipeline) error {
	for {
		res, err := p.GetResults()
		if err != nil {
			return errors.Join(err, p.Close())
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			if _, err := r.Close(); err != nil {
				return errors.Join(err, p.Close())
			}
		case nil, *pgconn.PipelineSync:
			return p.Close()
		}
	}
}

// flush sends a deferred Apply on its own.
func (t *tx) flush(ctx context.Context) error {
	pa := t.pending
	if pa == nil {
		return nil
	}
	t.pending = nil
	rows, err := t.run(ctx, pa.query, pa.args)
	if err == nil {
		for rows.Next() {
		}
		err = rows.Close()
	}
	if err != nil {
		return applyError(err, pa.batch)
	}
	return nil
}

// finish sends what is left: BEGIN if nothing was sent yet and there is
// an Apply, the deferred Apply, and COMMIT, in one round trip.
func (t *tx) finish(ctx context.Context) error {
	pa := t.pending
	t.pending = nil
	if !t.begun && pa == nil {
		return nil // nothing was sent: nothing to commit
	}
	var sd *pgconn.StatementDescription
	eqb := t.s.builders.get()
	defer t.s.builders.put(eqb)
	if pa != nil {
		var err error
		if sd, err = t.describe(ctx, pa.query); err != nil {
			t.rollback(ctx)
			return applyError(err, pa.batch)
		}
		if err := eqb.Build(t.pc.TypeMap(), sd, pa.args); err != nil {
			t.rollback(ctx)
			return applyError(err, pa.batch)
		}
	}
	p := t.pc.PgConn().StartPipeline(ctx)
	begin := !t.begun
	if begin {
		p.SendQueryParams("begin", nil, nil, nil, nil)
	}
	if pa != nil {
		t.send(p, sd, eqb)
	}
	p.SendQueryParams("commit", nil, nil, nil, nil)
	err := p.Sync()
	t.begun = true
	if err == nil && begin {
		bctx := t.traceStart(ctx, "begin", nil)
		err = readCommand(p)
		t.traceEnd(bctx, err)
	}
	if err == nil && pa != nil {
		actx := t.traceStart(ctx, pa.query, pa.args)
		err = readCommand(p)
		t.traceEnd(actx, err)
		if err != nil {
			// PostgreSQL skipped COMMIT: the transaction is aborted.
			_ = p.Close()
			t.rollback(ctx)
			return applyError(err, pa.batch)
		}
	}
	if err == nil {
		cctx := t.traceStart(ctx, "commit", nil)
		err = readCommand(p)
		t.traceEnd(cctx, err)
	}
	if err != nil {
		_ = p.Close()
		t.rollback(ctx)
		return err
	}
	t.begun = false
	return endPipeline(p)
}

// rollback ends a pipelined transaction that will not commit. A
// connection it cannot bring back out of a transaction is closed, so that
// the pool never hands it out mid-transaction.
func (t *tx) rollback(ctx context.Context) {
	t.pending = nil
	if !t.begun {
		return
	}
	t.begun = false
	ctx = context.WithoutCancel(ctx)
	if t.pc.IsClosed() {
		return
	}
	if _, err := t.pc.Exec(ctx, "rollback"); err != nil || t.pc.PgConn().TxStatus() != 'I' {
		_ = t.pc.Close(ctx)
	}
}

// traceStart and traceEnd tell the connection's tracer about a pipelined
// statement, which pgx does not.
func (t *tx) traceStart(ctx context.Context, sql string, args []any) context.Context {
	if t.tracer == nil {
		return ctx
	}
	return t.tracer.TraceQueryStart(ctx, t.pc, pgx.TraceQueryStartData{SQL: sql, Args: args})
}

func (t *tx) traceEnd(ctx context.Context, err error) {
	if t.tracer != nil {
		t.tracer.TraceQueryEnd(ctx, t.pc, pgx.TraceQueryEndData{Err: err})
	}
}

// pipelined runs steps in one round trip (sendPipeline), after a
// deferred Apply, which is sent on its own first. Each step's rows are read in turn; the first
// error ends the pipeline (PostgreSQL skips what follows a failed
// statement up to the sync point) and is returned, and the transaction
// then rolls back.
func (t *tx) pipelined(ctx context.Context, steps []loadStep) (err error) {
	if err := t.flush(ctx); err != nil {
		return err
	}
	if !t.begun && !t.sent {
		// The transaction's first round trip: see pipelinedTx.
		t.sent = true
		defer func() { t.stale = err != nil && t.pc.IsClosed() }()
	}
	sds := make([]*pgconn.StatementDescription, len(steps))
	eqbs := make([]*pgx.ExtendedQueryBuilder, len(steps))
	defer func() {
		for _, eqb := range eqbs {
			if eqb != nil {
				t.s.builders.put(eqb)
			}
		}
	}()
	for i, st := range steps {
		sd, err := t.describe(ctx, numbered(st.query))
		if err != nil {
			return fmt.Errorf("bunstore: %s: %w", st.what, err)
		}
		sds[i], eqbs[i] = sd, t.s.builders.get()
		if err := eqbs[i].Build(t.pc.TypeMap(), sd, st.args); err != nil {
			return fmt.Errorf("bunstore: %s: %w", st.what, err)
		}
	}
	p, err := t.sendPipeline(ctx, sds, eqbs)
	if err != nil {
		return err
	}
	for _, st := range steps {
		qctx := t.traceStart(ctx, st.query, st.args)
		err := t.readStep(p, st)
		t.traceEnd(qctx, err)
		if err != nil {
			_ = p.Close()
			return fmt.Errorf("bunstore: %s: %w", st.what, err)
		}
	}
	return endPipeline(p)
}

// readStep reads the next result of p as st's rows.
func (t *tx) readStep(p *pgconn.Pipeline, st loadStep) error {
	pr, err := t.nextRows(p)
	if err != nil {
		return err
	}
	rows := &pgxRows{Rows: pr}
	err = st.read(rows)
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}
