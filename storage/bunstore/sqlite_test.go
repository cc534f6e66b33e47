package bunstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// sqliteConsumeBatch is a consume of 4 from lot-1 of account u.
func sqliteConsumeBatch(a storage.Account) *storage.Batch {
	e := storage.Entry{ID: fmt.Sprint("e-", a.Seq+1), Account: a.ID, Seq: a.Seq + 1, OperationID: fmt.Sprint("op-", a.Seq+1),
		LotID: "lot-1", Kind: storage.KindConsume, Amount: -4, BalanceAfter: a.Balance - 4, CreatedAt: t0, Available: a.Balance - 4}
	e.Hash = storage.EntryHash(a.HeadHash, &e)
	return &storage.Batch{
		Entries:  []storage.Entry{e},
		Debits:   []storage.LotDebit{{Account: a.ID, LotID: "lot-1", Amount: 4}},
		Accounts: []storage.AccountUpdate{{ID: a.ID, Balance: a.Balance - 4, Seq: a.Seq + 1, HeadHash: e.Hash}},
	}
}

// sqliteGranted returns a SQLite store whose account u has a lot lot-1 of
// 100.
func sqliteGranted(t *testing.T) *bunstore.Store {
	t.Helper()
	s := setup(t, database{"sqlite", sqlitePath})
	ctx := t.Context()
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, true, t0)
		if err != nil {
			return err
		}
		e := storage.Entry{ID: "e-1", Account: "u", Seq: 1, OperationID: "op-1", LotID: "lot-1", Kind: storage.KindGrant,
			Amount: 100, BalanceAfter: 100, CreatedAt: t0, Available: 100}
		e.Hash = storage.EntryHash(accts[0].HeadHash, &e)
		return tx.Apply(ctx, &storage.Batch{
			Lots:     []storage.Lot{{ID: "lot-1", Account: "u", OperationID: "op-1", Source: "s", Amount: 100, Remaining: 100, CreatedAt: t0}},
			Entries:  []storage.Entry{e},
			Accounts: []storage.AccountUpdate{{ID: "u", Balance: 100, Seq: 1, HeadHash: e.Hash}},
		})
	}))
	return s
}

// TestSQLiteCancelBeforeCommit: a context cancelled once the function is
// done, just before COMMIT, makes Tx return the context's error (never
// sql.ErrTxDone) and write nothing; an Apply after the cancellation says
// so too; the store goes on working.
func TestSQLiteCancelBeforeCommit(t *testing.T) {
	s := sqliteGranted(t)
	for _, applyAfter := range []bool{false, true} {
		ctx, cancel := context.WithCancel(t.Context())
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
			require.NoError(t, err)
			b := sqliteConsumeBatch(accts[0])
			if applyAfter {
				cancel()
				return tx.Apply(ctx, b)
			}
			require.NoError(t, tx.Apply(ctx, b))
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled, "applyAfter=%v", applyAfter)
		require.NotErrorIs(t, err, sql.ErrTxDone, "applyAfter=%v", applyAfter)
		a, err := s.Account(t.Context(), "u")
		require.NoError(t, err)
		require.EqualValues(t, 100, a.Balance, "applyAfter=%v: nothing written", applyAfter)
		require.EqualValues(t, 1, a.Seq)
	}
	// The connection was handed back outside any transaction.
	require.NoError(t, s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
		require.NoError(t, err)
		return tx.Apply(ctx, sqliteConsumeBatch(accts[0]))
	}))
	a, err := s.Account(t.Context(), "u")
	require.NoError(t, err)
	require.EqualValues(t, 96, a.Balance)
}

// commitHook is a bun query hook that runs before and after COMMIT.
type commitHook struct{ before, after func() }

func (h *commitHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if e.Query == "COMMIT" && h.before != nil {
		h.before()
	}
	return ctx
}

func (h *commitHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Query == "COMMIT" && h.after != nil {
		h.after()
	}
}

// TestSQLiteCancelAroundCommit: a context cancelled as COMMIT is about to
// be sent (in a query hook, after the function returned) makes Tx return
// the context's error, never sql.ErrTxDone, with nothing written; one
// cancelled once COMMIT returned leaves the call a success, written once.
func TestSQLiteCancelAroundCommit(t *testing.T) {
	s := sqliteGranted(t)
	hook := &commitHook{}
	s.DB().AddQueryHook(hook)
	write := func(ctx context.Context) error {
		return s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
			require.NoError(t, err)
			return tx.Apply(ctx, sqliteConsumeBatch(accts[0]))
		})
	}
	balance := func() int64 {
		a, err := s.Account(t.Context(), "u")
		require.NoError(t, err)
		return a.Balance
	}

	ctx, cancel := context.WithCancel(t.Context())
	hook.before, hook.after = cancel, nil
	err := write(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, sql.ErrTxDone)
	require.EqualValues(t, 100, balance(), "nothing written")

	ctx, cancel = context.WithCancel(t.Context())
	hook.before, hook.after = nil, cancel
	require.NoError(t, write(ctx), "COMMIT succeeded: the call did")
	require.Error(t, ctx.Err())
	require.EqualValues(t, 96, balance())

	hook.before, hook.after = nil, nil
	require.NoError(t, write(t.Context()))
	require.EqualValues(t, 92, balance(), "the connection went back to the pool outside any transaction")
}

// TestSQLiteFailedApplyDoomsTx: when a batch fails after a part of it was
// written (here its account update names an unknown account, after the
// entry and the debit went in), the transaction is not committed even if
// the function swallows the error.
func TestSQLiteFailedApplyDoomsTx(t *testing.T) {
	s := sqliteGranted(t)
	var applyErr error
	err := s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u"}, false, t0)
		require.NoError(t, err)
		b := sqliteConsumeBatch(accts[0])
		b.Accounts = append(b.Accounts, storage.AccountUpdate{ID: "nobody", Balance: 1, Seq: 1})
		applyErr = tx.Apply(ctx, b)
		return nil // swallowed
	})
	require.ErrorIs(t, applyErr, storage.ErrNotFound)
	require.ErrorIs(t, err, storage.ErrNotFound, "Tx returns the failed Apply's error")
	a, err := s.Account(t.Context(), "u")
	require.NoError(t, err)
	require.EqualValues(t, 100, a.Balance, "nothing of the batch is committed")
	require.Equal(t, 0, countWhere(t, s, "creditledger_entries", "seq = 2"))

	// The batch's first statement itself writes a part: of two debits,
	// one names a lot that does not exist.
	err = s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		applyErr = tx.Apply(ctx, &storage.Batch{Debits: []storage.LotDebit{
			{Account: "u", LotID: "lot-1", Amount: 4}, {Account: "u", LotID: "no-lot", Amount: 1}}})
		return nil // swallowed
	})
	require.ErrorIs(t, applyErr, storage.ErrNotFound)
	require.ErrorIs(t, err, storage.ErrNotFound, "Tx returns the failed Apply's error")
	lots, err := s.Lots(t.Context(), storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.EqualValues(t, 100, lots[0].Remaining, "the debit of the lot that exists is not committed")
}

// countWhere counts the rows of table matching cond.
func countWhere(t *testing.T, s *bunstore.Store, table, cond string) int {
	t.Helper()
	var n int
	require.NoError(t, s.DB().QueryRowContext(t.Context(), "SELECT count(*) FROM "+table+" WHERE "+cond).Scan(&n))
	return n
}

// TestSQLiteConcurrentConsumesQuiet: 16 goroutines consuming at once on a
// store whose host pool has four connections and no busy timeout, with
// retries off, never meet SQLITE_BUSY (the store serializes its write
// transactions), and every credit is accounted for.
func TestSQLiteConcurrentConsumesQuiet(t *testing.T) {
	ctx := t.Context()
	path := sqlitePath(t)
	sqldb, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(0)&_txlock=immediate")
	require.NoError(t, err)
	sqldb.SetMaxOpenConns(4)
	t.Cleanup(func() { _ = sqldb.Close() })
	s, err := bunstore.New(bun.NewDB(sqldb, sqlitedialect.New()), &bunstore.Options{MaxRetries: -1})
	require.NoError(t, err)
	l, err := ledger.New(s, nil)
	require.NoError(t, err)
	const accounts, workers, each = 4, 16, 40
	for i := range accounts {
		_, err := l.Grant(ctx, ledger.GrantParams{Account: fmt.Sprint("a", i), Amount: decimal.NewFromInt(1000), Source: "seed",
			IdempotencyKey: fmt.Sprint("seed-", i)})
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := l.Consume(ctx, ledger.ConsumeParams{Account: fmt.Sprint("a", (w+i)%accounts), Amount: decimal.NewFromInt(1)})
				if err != nil {
					errs <- err
				}
				if i%8 == 0 {
					// Readers on the other connections meanwhile.
					if _, err := l.Balance(ctx, fmt.Sprint("a", i%accounts)); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("consume or balance: %v", err)
	}
	var total int64
	for i := range accounts {
		a, err := s.Account(ctx, fmt.Sprint("a", i))
		require.NoError(t, err)
		total += a.Balance
	}
	require.EqualValues(t, accounts*1000-workers*each, total)
	rep, err := l.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK(), "Verify: %+v", rep)
}

// TestSQLiteBatchRoundTrip: a many-row batch, whose columns are in turns
// the same in every row (written once) and different (written per row),
// with NULLs among values, quotes in text and times before the epoch,
// reads back exactly.
func TestSQLiteBatchRoundTrip(t *testing.T) {
	s := setup(t, database{"sqlite", sqlitePath})
	ctx := t.Context()
	ids := []string{"o'brien", "plain", "semi;colon", "x"}
	exp := t0.Add(48 * time.Hour)
	early := time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC)
	var written []storage.Entry
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, ids, true, t0)
		require.NoError(t, err)
		require.Len(t, accts, len(ids))
		b := &storage.Batch{}
		for i, a := range accts {
			lot := fmt.Sprint("lot-", i)
			var expires *time.Time
			if i%2 == 0 {
				expires = &exp // the same in half the rows, NULL in the others
			}
			e := storage.Entry{ID: fmt.Sprint("e-", i), Account: a.ID, Seq: 1, OperationID: fmt.Sprint("op-", i), LotID: lot,
				Kind: storage.KindGrant, Amount: 10, BalanceAfter: 10, Source: "it's", Description: "same 'quoted' text",
				Metadata: map[string]string{"who": a.ID}, CreatedAt: early, ExpiresAt: expires, Key: "k", ParamHash: "h", Available: 10}
			e.Hash = storage.EntryHash(a.HeadHash, &e)
			written = append(written, e)
			b.Lots = append(b.Lots, storage.Lot{ID: lot, Account: a.ID, OperationID: e.OperationID, Source: "it's", Amount: 10,
				Remaining: 10, Priority: -i, ExpiresAt: expires, CreatedAt: early})
			b.Entries = append(b.Entries, e)
			b.Accounts = append(b.Accounts, storage.AccountUpdate{ID: a.ID, Balance: 10, Seq: 1, HeadHash: e.Hash,
				NextGrantAt: &exp, SetPlan: i == 1, Plan: "pro", Anchor: early})
		}
		return tx.Apply(ctx, b)
	}))
	for i, id := range ids {
		a, err := s.Account(ctx, id)
		require.NoError(t, err)
		require.EqualValues(t, 10, a.Balance, id)
		require.Equal(t, written[i].Hash, a.HeadHash, id)
		require.True(t, exp.Equal(*a.NextGrantAt), id)
		if i == 1 {
			require.Equal(t, "pro", a.Plan)
			require.True(t, early.Equal(a.Anchor))
		} else {
			require.Equal(t, "", a.Plan, id)
			require.True(t, a.Anchor.IsZero(), id)
		}
		got, err := s.Entries(ctx, storage.EntryQuery{Account: id, Limit: 10})
		require.NoError(t, err)
		require.Len(t, got, 1)
		want := written[i]
		require.Equal(t, want.Hash, got[0].Hash, id)
		require.Equal(t, want.Metadata, got[0].Metadata, id)
		require.Equal(t, want.Description, got[0].Description, id)
		require.True(t, early.Equal(got[0].CreatedAt), id)
		require.Equal(t, want.ExpiresAt == nil, got[0].ExpiresAt == nil, id)
		require.Equal(t, storage.EntryHash(nil, &got[0]), got[0].Hash, "%s: every hashed field read back as written", id)
		lots, err := s.Lots(ctx, storage.LotQuery{Account: id})
		require.NoError(t, err)
		require.Len(t, lots, 1)
		require.Equal(t, -i, lots[0].Priority, id)
		require.Equal(t, "it's", lots[0].Source, id)
	}
	// Many-row debits: the same amount from lots of several accounts.
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, ids, false, t0)
		require.NoError(t, err)
		b := &storage.Batch{}
		for i, a := range accts {
			b.Debits = append(b.Debits, storage.LotDebit{Account: a.ID, LotID: fmt.Sprint("lot-", i), Amount: 3})
			b.Accounts = append(b.Accounts, storage.AccountUpdate{ID: a.ID, Balance: 7, Seq: 1, NextGrantAt: a.NextGrantAt})
		}
		return tx.Apply(ctx, b)
	}))
	for i, id := range ids {
		lots, err := s.Lots(ctx, storage.LotQuery{Account: id})
		require.NoError(t, err)
		require.EqualValues(t, 7, lots[0].Remaining, id)
		a, err := s.Account(ctx, id)
		require.NoError(t, err)
		require.EqualValues(t, 7, a.Balance)
		require.Equal(t, written[i].Hash, a.HeadHash, "%s: an update without a head keeps the stored one", id)
	}
}

// TestSQLiteLiteralsHostileIDs: the SQLite path writes a chunk's rows as
// SQL literals; ids, sources and descriptions full of quotes and SQL must
// come back byte for byte through a whole distribution chunk (many-row
// statements) and through single-row writes.
func TestSQLiteLiteralsHostileIDs(t *testing.T) {
	t.Parallel()
	s := setup(t, database{"sqlite", sqlitePath})
	ctx := t.Context()
	cat := &policy.Catalog{DefaultPlan: "it's", Plans: []policy.Plan{
		{ID: "it's", Allocation: policy.MonthlyCalendar(decimal.NewFromInt(7), "src'); DROP TABLE creditledger_lots; --")},
	}}
	l, err := ledger.New(s, &ledger.Config{Catalog: cat, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	ids := []string{"'", "''", "a'b", `\'`, "x'); DELETE FROM creditledger_accounts; --", "é'ü", "\t'\n", "X'00'", "NULL", "'NULL'"}
	ps := make([]ledger.PlanParams, len(ids))
	for i, id := range ids {
		ps[i] = ledger.PlanParams{Account: id, Plan: "it's"}
	}
	require.NoError(t, l.SetPlans(ctx, ps))
	res, err := l.Distribute(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, len(ids), res.Granted)
	for _, id := range ids {
		rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: id, Amount: decimal.NewFromInt(2), Description: "d'" + id, IdempotencyKey: "k'" + id})
		require.NoError(t, err, "account %q", id)
		require.True(t, decimal.NewFromInt(5).Equal(rec.Balance), "account %q", id)
		page, err := l.Entries(ctx, id, nil)
		require.NoError(t, err)
		require.Len(t, page.Entries, 3) // consume, grant, plan
		require.Equal(t, id, page.Entries[0].Account)
		require.Equal(t, "d'"+id, page.Entries[0].Description)
		require.Equal(t, "src'); DROP TABLE creditledger_lots; --", page.Entries[1].Source)
		require.Equal(t, ledger.KindPlan, page.Entries[2].Kind)
		require.Equal(t, "it's", page.Entries[2].Source)
	}
	rep, err := l.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
}
