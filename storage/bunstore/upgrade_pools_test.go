package bunstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
	"github.com/creditledger/creditledger/storage/memory"
)

// schema5 is the last migration of schema 5.
const schema5 = "20261129000002"

// TestUpgradeFromSchema5 populates a database at schema 5 with the rows a
// v0.2 ledger wrote (grants, consumes over several lots, an expiry, a
// plan, holds released and captured, a reversal), migrates it to schema 6
// (pools), and checks that every account, lot, entry, hold and hash is as
// before, in the default pool, that Verify finds it clean, that keys
// replay, and that new writes in a pool chain onto the old history.
func TestUpgradeFromSchema5(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	catalog := &policy.Catalog{
		DefaultPlan: "free",
		SignupGift:  &policy.Gift{Amount: decimal.NewFromInt(7), Expiry: policy.Never()},
		Plans: []policy.Plan{{
			ID: "free", Allocation: policy.MonthlyCalendar(decimal.NewFromInt(50), "monthly_refresh"), Expiry: policy.AtPeriodEnd(),
		}},
	}
	mem := memory.New()
	ml, err := ledger.New(mem, &ledger.Config{Scale: 2, Catalog: catalog, Now: clock})
	require.NoError(t, err)
	exp := now.Add(48 * time.Hour)
	_, err = ml.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "pay-1", Source: "purchase_package",
		Amount: decimal.RequireFromString("100.50"), ExpiresAt: &exp, Metadata: map[string]string{"invoice": "in_1"}})
	require.NoError(t, err)
	grantU2 := ledger.GrantParams{Account: "u", IdempotencyKey: "pay-2", Amount: decimal.NewFromInt(40)}
	_, err = ml.Grant(ctx, grantU2)
	require.NoError(t, err)
	consumeU := ledger.ConsumeParams{Account: "u", IdempotencyKey: "req-1", Amount: decimal.NewFromInt(120), Description: "generate"}
	firstConsume, err := ml.Consume(ctx, consumeU)
	require.NoError(t, err)
	h1, err := ml.Hold(ctx, ledger.HoldParams{Account: "u", IdempotencyKey: "hold-1", Amount: decimal.NewFromInt(5), TTL: time.Hour})
	require.NoError(t, err)
	_, err = ml.Capture(ctx, ledger.CaptureParams{Account: "u", HoldID: h1.ID, Amount: decimal.NewFromInt(3)})
	require.NoError(t, err)
	h2, err := ml.Hold(ctx, ledger.HoldParams{Account: "u", Amount: decimal.NewFromInt(2), TTL: time.Hour})
	require.NoError(t, err)
	_, err = ml.Release(ctx, "u", h2.ID)
	require.NoError(t, err)
	_, err = ml.Reverse(ctx, ledger.ReverseParams{Account: "u", Key: "req-1"})
	require.NoError(t, err)
	require.NoError(t, ml.SetPlan(ctx, ledger.PlanParams{Account: "w", Plan: "free"}))
	now = now.Add(72 * time.Hour) // pay-1's lot expires
	_, err = ml.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(1)})
	require.NoError(t, err)
	want, err := mem.Scan(ctx, "", 100)
	require.NoError(t, err)
	require.Len(t, want, 2)
	rep, err := ml.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Violations)

	eachPlainDatabase(t, func(t *testing.T, db database) {
		s := open(t, db.dsn(t))
		require.NoError(t, bunstore.MigrateUpTo(ctx, s, schema5))
		writeSchema5(t, s, want)
		require.ErrorIs(t, s.CheckSchema(ctx), bunstore.ErrSchemaOutdated, "schema 5 is behind")

		l, err := ledger.New(s, &ledger.Config{Scale: 2, Catalog: catalog, Now: clock}) // migrates to schema 6
		require.NoError(t, err)
		require.NoError(t, s.CheckSchema(ctx))
		got, err := s.Scan(ctx, "", 100)
		require.NoError(t, err)
		require.Equal(t, want, got, "accounts, lots, entries (hashes included) and holds as they were, in the default pool")

		rep, err := l.Verify(ctx)
		require.NoError(t, err)
		require.True(t, rep.OK(), "%v", rep.Violations)
		require.Equal(t, 2, rep.Accounts)

		for _, acct := range []string{"u", "w"} {
			mb, err := ml.Balance(ctx, acct)
			require.NoError(t, err)
			b, err := l.Balance(ctx, acct)
			require.NoError(t, err)
			require.True(t, mb.Available.Equal(b.Available), "%s: %s, want %s", acct, b.Available, mb.Available)
		}
		again, err := l.Consume(ctx, consumeU)
		require.NoError(t, err)
		require.True(t, again.Replayed, "keys carried over")
		require.Equal(t, firstConsume.OperationID, again.OperationID)
		replayed, err := l.Grant(ctx, grantU2)
		require.NoError(t, err)
		require.True(t, replayed.Replayed)

		// New records with the new fields chain onto the old history.
		err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{"u"}, false, now)
			if err != nil {
				return err
			}
			a := accts[0]
			start := now.Add(time.Hour)
			e := storage.Entry{ID: "e-img", Account: "u", Seq: a.Seq + 1, OperationID: "op-img", LotID: "lot-img", Kind: storage.KindGrant,
				Amount: 500, BalanceAfter: 500, CreatedAt: now, Pool: "image", EffectiveAt: &start, Available: 0}
			e.Hash = storage.EntryHash(a.HeadHash, &e)
			return tx.Apply(ctx, &storage.Batch{
				Lots: []storage.Lot{{ID: "lot-img", Account: "u", OperationID: "op-img", Amount: 500, Remaining: 500, CreatedAt: now,
					Pool: "image", EffectiveAt: &start}},
				Entries:  []storage.Entry{e},
				Accounts: []storage.AccountUpdate{{ID: "u", Balance: a.Balance + 500, Seq: e.Seq, HeadHash: e.Hash, NextExpiryAt: a.NextExpiryAt}},
			})
		})
		require.NoError(t, err)
		rep, err = l.Verify(ctx)
		require.NoError(t, err)
		require.True(t, rep.OK(), "%v", rep.Violations)
		image := "image"
		es, err := s.Entries(ctx, storage.EntryQuery{Account: "u", Pool: &image, Limit: 10})
		require.NoError(t, err)
		require.Len(t, es, 1)
		_, err = s.DB().ExecContext(ctx, "UPDATE creditledger_entries SET pool = 'chat' WHERE account_id = 'u' AND pool = 'image'")
		require.Error(t, err, "entries stay append-only, their new columns included")
	})
}

// writeSchema5 writes dumps as rows of schema 5: every column but those of
// schema 6.
func writeSchema5(t *testing.T, s *bunstore.Store, dumps []storage.AccountDump) {
	t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := s.DB().ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	nullStr := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for _, d := range dumps {
		a := d.Account
		var anchor any
		if !a.Anchor.IsZero() {
			anchor = s.TimeArg(a.Anchor)
		}
		exec(`INSERT INTO creditledger_accounts (id, plan, anchor, balance, seq, head_hash, created_at, next_grant_at, next_expiry_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Plan, anchor, a.Balance, a.Seq, a.HeadHash, s.TimeArg(a.CreatedAt),
			s.NullTimeArg(a.NextGrantAt), s.NullTimeArg(a.NextExpiryAt))
		for _, l := range d.Lots {
			exec(`INSERT INTO creditledger_lots (id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, l.ID, l.Account, l.OperationID, l.Source, l.Amount, l.Remaining, l.Priority,
				s.NullTimeArg(l.ExpiresAt), s.TimeArg(l.CreatedAt))
		}
		for _, e := range d.Entries {
			var md any
			if len(e.Metadata) > 0 {
				b, err := json.Marshal(e.Metadata)
				require.NoError(t, err)
				md = string(b)
			}
			var available any
			if e.Key != "" || e.Available != 0 {
				available = e.Available
			}
			exec(`INSERT INTO creditledger_entries (id, account_id, seq, operation_id, lot_id, kind, amount, balance_after, source, description,
metadata, created_at, expires_at, idempotency_key, param_hash, available, hash, ref)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Account, e.Seq, e.OperationID, nullStr(e.LotID), string(e.Kind),
				e.Amount, e.BalanceAfter, e.Source, e.Description, md, s.TimeArg(e.CreatedAt), s.NullTimeArg(e.ExpiresAt),
				nullStr(e.Key), nullStr(e.ParamHash), available, e.Hash, nullStr(e.Ref))
		}
		for _, h := range d.Holds {
			type line struct {
				Lot    string `json:"lot"`
				Amount int64  `json:"amount"`
			}
			lines := make([]line, len(h.Lines))
			for i, ln := range h.Lines {
				lines[i] = line{ln.LotID, ln.Amount}
			}
			b, err := json.Marshal(lines)
			require.NoError(t, err)
			exec(`INSERT INTO creditledger_holds (account_id, id, amount, captured, state, expires_at, created_at, ended_at, end_operation_id, lines)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, h.Account, h.ID, h.Amount, h.Captured, string(h.State), s.TimeArg(h.ExpiresAt),
				s.TimeArg(h.CreatedAt), s.NullTimeArg(h.EndedAt), nullStr(h.EndOperationID), string(b))
		}
	}
}
