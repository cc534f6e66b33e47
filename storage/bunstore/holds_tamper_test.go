package bunstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
)

// TestVerifyFindsHoldTampering tampers with holds and their entries in
// raw SQL and checks that Verify reports each case. Account u has a
// grant of 100, an active hold of 30 and a hold of 20 released.
func TestVerifyFindsHoldTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		sql    []string
		sqlite []string // when SQLite needs other SQL (times are microseconds there)
		want   string
	}{
		{
			name:   "active hold's expiry extended in the holds table",
			sql:    []string{"UPDATE creditledger_holds SET expires_at = expires_at + interval '1 hour' WHERE account_id = 'u' AND amount = 30"},
			sqlite: []string{"UPDATE creditledger_holds SET expires_at = expires_at + 3600000000 WHERE account_id = 'u' AND amount = 30"},
			want:   "expires at 2026-11-26T10:45:00Z but its hold entries say 2026-11-26T09:45:00Z",
		},
		{
			name: "released hold relabelled expired",
			sql:  []string{"UPDATE creditledger_holds SET state = 'expired' WHERE account_id = 'u' AND amount = 20"},
			want: "is expired but its entries gave it back at 2026-11-26T09:30:00Z, before its expiry",
		},

		{
			name: "active hold made smaller (credits would come back)",
			sql:  []string{"UPDATE creditledger_holds SET amount = 10 WHERE account_id = 'u' AND amount = 30"},
			want: "holds 10 but its lines sum to 30",
		},
		{
			name: "released hold turned active again",
			sql:  []string{"UPDATE creditledger_holds SET state = 'active' WHERE account_id = 'u' AND amount = 20"},
			want: "is active but entries released 20",
		},
		{
			name: "hold row deleted",
			sql:  []string{"DELETE FROM creditledger_holds WHERE account_id = 'u' AND amount = 30"},
			want: "which does not exist",
		},
		{
			name: "ref of a release entry changed",
			sql:  []string{"UPDATE creditledger_entries SET ref = 'other' WHERE account_id = 'u' AND kind = 'release'"},
			want: "breaks the hash chain",
		},
	}
	eachPlainDatabase(t, func(t *testing.T, db database) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				s := open(t, db.dsn(t))
				l, err := ledger.New(s, &ledger.Config{Now: func() time.Time { return t0 }})
				require.NoError(t, err)
				_, err = l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g1", Amount: decimal.NewFromInt(100)})
				require.NoError(t, err)
				_, err = l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: decimal.NewFromInt(30)})
				require.NoError(t, err)
				h, err := l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: decimal.NewFromInt(20)})
				require.NoError(t, err)
				_, err = l.Release(ctx, "u", h.ID)
				require.NoError(t, err)
				rep, err := l.Verify(ctx)
				require.NoError(t, err)
				require.True(t, rep.OK(), "%v", rep.Violations)

				allowTampering(t, s, db.name)
				stmts := tc.sql
				if db.name == "sqlite" && tc.sqlite != nil {
					stmts = tc.sqlite
				}
				for _, q := range stmts {
					_, err := s.DB().ExecContext(ctx, q)
					require.NoError(t, err, q)
				}
				rep, err = l.Verify(ctx)
				require.NoError(t, err)
				var found []string
				for _, v := range rep.Violations {
					found = append(found, v.String())
				}
				require.True(t, strings.Contains(strings.Join(found, "\n"), tc.want), "want %q among:\n%s", tc.want, strings.Join(found, "\n"))
			})
		}
	})
}
