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

// schema2 is the last migration of schema 2.
const schema2 = "20261127000001"

// TestUpgradeFromSchema2 populates a database at schema 2 with the rows
// the v0.1 write path wrote (an operation row per call, global keys),
// migrates it to schema 3, and checks that every balance, lot, entry and
// key replay is as before, that the upgrade hashed the history exactly as
// the ledger hashes new entries, and that Verify finds it clean.
func TestUpgradeFromSchema2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// The history, written by the ledger on the memory store: grants with
	// and without expiry, a keyed consume over two lots (two entries, the
	// key on the first), an expiry sweep and an unkeyed consume, a plan
	// with its gift and monthly grant.
	now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
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
	grantU := ledger.GrantParams{Account: "u", IdempotencyKey: "pay-1", Source: "purchase_package", Amount: decimal.RequireFromString("100.50"),
		ExpiresAt: &exp, Metadata: map[string]string{"invoice": "in_1"}}
	_, err = ml.Grant(ctx, grantU)
	require.NoError(t, err)
	grantU2 := ledger.GrantParams{Account: "u", IdempotencyKey: "pay-2", Amount: decimal.NewFromInt(40)}
	_, err = ml.Grant(ctx, grantU2)
	require.NoError(t, err)
	consumeU := ledger.ConsumeParams{Account: "u", IdempotencyKey: "req-1", Amount: decimal.NewFromInt(120), Description: "generate"}
	firstConsume, err := ml.Consume(ctx, consumeU)
	require.NoError(t, err)
	require.Len(t, firstConsume.Entries, 2, "the consume draws on both lots")
	require.NoError(t, ml.SetPlan(ctx, ledger.PlanParams{Account: "w", Plan: "free"}))
	now = now.Add(72 * time.Hour) // pay-1's lot expires
	_, err = ml.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(1)})
	require.NoError(t, err)
	_, err = ml.Grant(ctx, ledger.GrantParams{Account: "v", IdempotencyKey: "pay-3", Amount: decimal.NewFromInt(5)})
	require.NoError(t, err)
	want, err := mem.Scan(ctx, "", 100)
	require.NoError(t, err)
	require.Len(t, want, 3)

	eachPlainDatabase(t, func(t *testing.T, db database) {
		s := open(t, db.dsn(t))
		require.NoError(t, bunstore.MigrateUpTo(ctx, s, schema2))
		writeSchema2(t, s, want)
		// Schema 2 on PostgreSQL has no foreign keys: an entry whose
		// account row was deleted gets its hash too, and Verify reports
		// it. (SQLite kept its foreign keys until schema 3.)
		orphans := 0
		if db.name == "postgres" {
			orphans = 1
			writeOrphan(t, s, want[1])
		}

		l, err := ledger.New(s, &ledger.Config{Scale: 2, Catalog: catalog, Now: clock}) // migrates to schema 3
		require.NoError(t, err)
		got, err := s.Scan(ctx, "", 100)
		require.NoError(t, err)
		require.Equal(t, want, got, "accounts, lots and entries (keys on first entries, expiries, hashes, heads) as the ledger writes them")

		rep, err := l.Verify(ctx)
		require.NoError(t, err)
		require.Len(t, rep.Violations, orphans, "%v", rep.Violations)
		if orphans > 0 {
			require.Equal(t, "gone", rep.Violations[0].Account)
			require.Contains(t, rep.Violations[0].Problem, "no account row")
		}
		require.Equal(t, 3, rep.Accounts)
		_, err = s.DB().ExecContext(ctx, "DELETE FROM creditledger_entries WHERE account_id = 'u'")
		require.Error(t, err, "entries stay append-only after the upgrade")

		for _, acct := range []string{"u", "v", "w"} {
			mb, err := ml.Balance(ctx, acct)
			require.NoError(t, err)
			b, err := l.Balance(ctx, acct)
			require.NoError(t, err)
			require.True(t, mb.Available.Equal(b.Available), "%s: %s, want %s", acct, b.Available, mb.Available)
		}

		// Keys carried over: replays, conflicts, and (per account now)
		// the same key elsewhere is another call.
		again, err := l.Consume(ctx, consumeU)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.Equal(t, firstConsume.OperationID, again.OperationID)
		require.Len(t, again.Entries, 2)
		require.True(t, firstConsume.Balance.Equal(again.Balance), "the replay's balance is the first call's")
		replayed, err := l.Grant(ctx, grantU2)
		require.NoError(t, err)
		require.True(t, replayed.Replayed)
		other := grantU2
		other.Amount = decimal.NewFromInt(1)
		_, err = l.Grant(ctx, other)
		require.ErrorIs(t, err, ledger.ErrIdempotencyConflict)
		elsewhere := grantU2
		elsewhere.Account = "v"
		onV, err := l.Grant(ctx, elsewhere)
		require.NoError(t, err)
		require.False(t, onV.Replayed)

		// New writes chain onto the upgraded history.
		_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: decimal.NewFromInt(2)})
		require.NoError(t, err)
		rep, err = l.Verify(ctx)
		require.NoError(t, err)
		require.Len(t, rep.Violations, orphans, "only the orphan: %v", rep.Violations)
	})
}

// writeSchema2 writes dumps as rows of schema 2: an operation row per
// call (from its first entry), lots and entries without the columns of
// schema 3.
func writeSchema2(t *testing.T, s *bunstore.Store, dumps []storage.AccountDump) {
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
		exec(`INSERT INTO creditledger_accounts (id, plan, anchor, balance, seq, created_at, next_grant_at, next_expiry_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Plan, anchor, a.Balance, a.Seq, s.TimeArg(a.CreatedAt),
			s.NullTimeArg(a.NextGrantAt), s.NullTimeArg(a.NextExpiryAt))
		seen := map[string]bool{}
		for _, e := range d.Entries {
			if seen[e.OperationID] {
				continue
			}
			seen[e.OperationID] = true
			exec(`INSERT INTO creditledger_operations (id, idempotency_key, kind, account_id, hash, available, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`, e.OperationID, nullStr(e.Key), string(e.Kind), e.Account, e.ParamHash, e.Available, s.TimeArg(e.CreatedAt))
		}
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
			exec(`INSERT INTO creditledger_entries (id, account_id, seq, operation_id, lot_id, kind, amount, balance_after, source, description, metadata, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Account, e.Seq, e.OperationID, nullStr(e.LotID), string(e.Kind), e.Amount,
				e.BalanceAfter, e.Source, e.Description, md, s.TimeArg(e.CreatedAt))
		}
	}
}

// writeOrphan writes, at schema 2, the entries of d under another account
// id ("gone", with other ids and keys: they were global in schema 2), and
// no account row.
func writeOrphan(t *testing.T, s *bunstore.Store, d storage.AccountDump) {
	t.Helper()
	orphan := d
	orphan.Account.ID = "gone"
	orphan.Lots = nil
	orphan.Entries = append([]storage.Entry(nil), orphan.Entries...)
	for i := range orphan.Entries {
		e := &orphan.Entries[i]
		e.Account, e.ID, e.OperationID = "gone", "gone-"+e.ID, "gone-"+e.OperationID
		if e.Key != "" {
			e.Key = "gone-" + e.Key // keys were global in schema 2
		}
	}
	writeSchema2(t, s, []storage.AccountDump{orphan})
	_, err := s.DB().ExecContext(context.Background(), "DELETE FROM creditledger_accounts WHERE id = 'gone'")
	require.NoError(t, err)
}
