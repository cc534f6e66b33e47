package bunstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// TestVerifyFindsTampering tampers with a ledger's tables in raw SQL, as
// someone with write access to the database would (on PostgreSQL with the
// append-only trigger switched off, on SQLite with its triggers dropped),
// keeping the sums consistent where a careful forger would, and checks
// that Verify reports each case.
func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sql  []string
		want string // in one of the violations
	}{
		{
			name: "changed amount, sums kept consistent",
			sql: []string{
				"UPDATE creditledger_entries SET amount = -10, balance_after = 90 WHERE account_id = 'u' AND seq = 2",
				"UPDATE creditledger_entries SET balance_after = 140 WHERE account_id = 'u' AND seq = 3",
				"UPDATE creditledger_lots SET remaining = 90 WHERE account_id = 'u' AND amount = 100",
				"UPDATE creditledger_accounts SET balance = 140 WHERE id = 'u'",
			},
			want: `account "u": entry 2 (`,
		},
		{
			name: "changed description",
			sql:  []string{"UPDATE creditledger_entries SET description = 'refund' WHERE account_id = 'u' AND seq = 1"},
			want: `account "u": entry 1 (`,
		},
		{
			name: "removed key-carrying entry and its lot",
			sql: []string{
				"DELETE FROM creditledger_lots WHERE account_id = 'u' AND amount = 50",
				"DELETE FROM creditledger_entries WHERE account_id = 'u' AND seq = 3",
				"UPDATE creditledger_accounts SET balance = 70, seq = 2 WHERE id = 'u'",
			},
			want: `account "u": its head hash is not the hash of its newest entry`,
		},
		{
			name: "removed entry in the middle, renumbered",
			sql: []string{
				"DELETE FROM creditledger_entries WHERE account_id = 'u' AND seq = 2",
				"UPDATE creditledger_entries SET seq = 2, balance_after = 150 WHERE account_id = 'u' AND seq = 3",
				"UPDATE creditledger_lots SET remaining = 100 WHERE account_id = 'u' AND amount = 100",
				"UPDATE creditledger_accounts SET balance = 150, seq = 2 WHERE id = 'u'",
			},
			want: `account "u": entry 2 (`,
		},
		{
			name: "inserted entry, head moved to it",
			sql: []string{
				`INSERT INTO creditledger_lots (id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at)
				 SELECT 'forged', account_id, 'forged-op', source, 1000, 1000, 0, NULL, created_at
				 FROM creditledger_lots WHERE account_id = 'u' AND amount = 50`,
				`INSERT INTO creditledger_entries (id, account_id, seq, operation_id, lot_id, kind, amount, balance_after, source, description, created_at, hash)
				 SELECT 'forged-e', account_id, 4, 'forged-op', 'forged', 'grant', 1000, 1120, source, '', created_at, hash
				 FROM creditledger_entries WHERE account_id = 'u' AND seq = 3`,
				"UPDATE creditledger_accounts SET balance = 1120, seq = 4, head_hash = (SELECT hash FROM creditledger_entries WHERE account_id = 'u' AND seq = 3) WHERE id = 'u'",
			},
			want: `account "u": entry 4 (forged-e) breaks the hash chain`,
		},
		{
			name: "deleted account row",
			sql:  []string{"DELETE FROM creditledger_accounts WHERE id = 'v'"},
			want: `account "v": has 1 lots and 1 entries but no account row`,
		},
		{
			name: "expiry removed from a lot",
			sql:  []string{"UPDATE creditledger_lots SET expires_at = NULL WHERE account_id = 'u' AND amount = 100"},
			want: "expires at never but its grant entry says 2026-12-26T09:30:00Z",
		},
		{
			name: "lot amount raised, sums kept consistent",
			sql: []string{
				"UPDATE creditledger_lots SET amount = 200, remaining = remaining + 100 WHERE account_id = 'u' AND amount = 100",
				"UPDATE creditledger_accounts SET balance = balance + 100 WHERE id = 'u'",
			},
			want: "has 1 grant entries summing to 100 for an amount of 200",
		},
	}
	eachPlainDatabase(t, func(t *testing.T, db database) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				s := open(t, db.dsn(t))
				l := tamperLedger(t, s)

				allowTampering(t, s, db.name)
				for _, q := range tc.sql {
					_, err := s.DB().ExecContext(ctx, q)
					require.NoError(t, err, q)
				}
				rep, err := l.Verify(ctx)
				require.NoError(t, err)
				require.False(t, rep.OK(), "tampering went unnoticed")
				var found []string
				for _, v := range rep.Violations {
					found = append(found, v.String())
				}
				require.True(t, strings.Contains(strings.Join(found, "\n"), tc.want), "want %q among:\n%s", tc.want, strings.Join(found, "\n"))
			})
		}
	})
}

// tamperLedger writes the history the tampering cases start from, and
// checks that Verify finds it clean: account u has a grant of 100 (key
// g1, expiring), a consume of 30 (key c1) and a grant of 50 (key g2); v
// has a grant of 10 (key g1, another call than u's).
func tamperLedger(t *testing.T, s *bunstore.Store) *ledger.Ledger {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.New(s, &ledger.Config{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	exp := t0.Add(30 * 24 * time.Hour)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Amount: decimal.NewFromInt(100), ExpiresAt: &exp})
	require.NoError(t, err)
	_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", IdempotencyKey: "c1", Amount: decimal.NewFromInt(30)})
	require.NoError(t, err)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g2", Amount: decimal.NewFromInt(50)})
	require.NoError(t, err)
	_, err = l.Grant(ctx, ledger.GrantParams{Account: "v", IdempotencyKey: "g1", Amount: decimal.NewFromInt(10)})
	require.NoError(t, err)
	rep, err := l.Verify(ctx)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Violations)
	require.Equal(t, 4, rep.Entries)
	return l
}

// allowTampering switches off what keeps entries append-only.
func allowTampering(t *testing.T, s *bunstore.Store, dialect string) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{"ALTER TABLE creditledger_entries DISABLE TRIGGER creditledger_entries_append_only"}
	if dialect == "sqlite" {
		stmts = []string{"DROP TRIGGER creditledger_entries_no_update", "DROP TRIGGER creditledger_entries_no_delete"}
	}
	for _, q := range stmts {
		_, err := s.DB().ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
}
