package bunstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// dumpOf returns the stored state of one account.
func dumpOf(t *testing.T, s *bunstore.Store, account string) storage.AccountDump {
	t.Helper()
	ds, err := s.Scan(context.Background(), "", 100)
	require.NoError(t, err)
	for _, d := range ds {
		if d.Account.ID == account {
			return d
		}
	}
	t.Fatalf("account %q not found", account)
	return storage.AccountDump{}
}

// TestVerifyAnchorFindsConsistentRewrites tampers in raw SQL the way a
// careful forger would, so that plain Verify finds the history sound (as
// documented): account u's last grant is rewritten from 50 to 500 with
// its hash, the lot, the balance and the head recomputed; account v's
// last operation (a webhook's grant) is deleted with its head, seq and
// balance rolled back. Verify against an anchor taken before reports
// both accounts and only them, and still does once the redelivered
// webhook has granted again.
func TestVerifyAnchorFindsConsistentRewrites(t *testing.T) {
	t.Parallel()
	eachPlainDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := open(t, db.dsn(t))
		l, err := ledger.New(s, &ledger.Config{Now: func() time.Time { return t0 }})
		require.NoError(t, err)
		grantTo := func(account, key string, amount int64) *ledger.Receipt {
			rec, err := l.Grant(ctx, ledger.GrantParams{Account: account, IdempotencyKey: key, Amount: decimal.NewFromInt(amount)})
			require.NoError(t, err)
			return rec
		}
		grantTo("u", "g1", 100)
		_, err = l.Consume(ctx, ledger.ConsumeParams{Account: "u", IdempotencyKey: "c1", Amount: decimal.NewFromInt(30)})
		require.NoError(t, err)
		grantTo("u", "g2", 50)
		grantTo("v", "g1", 10)
		grantTo("v", "webhook-1", 20)
		grantTo("w", "g1", 5)
		anchor, err := l.Anchor(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, anchor.Accounts)

		allowTampering(t, s, db.name)
		exec := func(q string, args ...any) {
			t.Helper()
			_, err := s.DB().ExecContext(ctx, q, args...)
			require.NoError(t, err, q)
		}
		// u: the last entry rewritten, its hash and the head recomputed.
		u := dumpOf(t, s, "u")
		last := u.Entries[len(u.Entries)-1]
		require.Equal(t, int64(3), last.Seq)
		last.Amount, last.BalanceAfter = 500, 570
		last.Hash = storage.EntryHash(u.Entries[1].Hash, &last)
		exec("UPDATE creditledger_entries SET amount = 500, balance_after = 570, hash = ? WHERE account_id = 'u' AND seq = 3", last.Hash)
		exec("UPDATE creditledger_lots SET amount = 500, remaining = 500 WHERE account_id = 'u' AND id = ?", last.LotID)
		exec("UPDATE creditledger_accounts SET balance = 570, head_hash = ? WHERE id = 'u'", last.Hash)
		// v: the last operation deleted, head, seq and balance rolled back.
		v := dumpOf(t, s, "v")
		require.Len(t, v.Entries, 2)
		exec("DELETE FROM creditledger_entries WHERE account_id = 'v' AND seq = 2")
		exec("DELETE FROM creditledger_lots WHERE account_id = 'v' AND id = ?", v.Entries[1].LotID)
		exec("UPDATE creditledger_accounts SET balance = 10, seq = 1, head_hash = ? WHERE id = 'v'", v.Entries[0].Hash)

		plain, err := l.Verify(ctx)
		require.NoError(t, err)
		require.Empty(t, plain.Violations, "plain Verify cannot see a consistent rewrite (as documented)")
		require.Zero(t, plain.Anchored)
		bal, err := l.Balance(ctx, "u")
		require.NoError(t, err)
		require.True(t, decimal.NewFromInt(570).Equal(bal.Available), "the forgery took: %s", bal.Available)

		anchored, err := l.VerifyWith(ctx, &ledger.VerifyOpts{Anchor: anchor, Digest: anchor.Digest})
		require.NoError(t, err)
		require.Equal(t, 3, anchored.Anchored)
		require.Equal(t, []string{"u", "v"}, anchored.AnchorBroken)
		require.Len(t, anchored.Violations, 2)
		require.Equal(t, "u", anchored.Violations[0].Account)
		require.Contains(t, anchored.Violations[0].Problem, "entry 3 no longer has the anchored hash")
		require.Equal(t, "v", anchored.Violations[1].Account)
		require.Contains(t, anchored.Violations[1].Problem, "the anchor's head is entry 2, the history now ends at seq 1")

		// The webhook is redelivered: its key is gone, so it grants again.
		again := grantTo("v", "webhook-1", 20)
		require.False(t, again.Replayed)
		anchored, err = l.VerifyWith(ctx, &ledger.VerifyOpts{Anchor: anchor})
		require.NoError(t, err)
		require.Equal(t, []string{"u", "v"}, anchored.AnchorBroken)
		require.Contains(t, anchored.Violations[1].Problem, "entry 2 no longer has the anchored hash")

		// An account row deleted outright (and its rows) is reported too.
		exec("DELETE FROM creditledger_entries WHERE account_id = 'w'")
		exec("DELETE FROM creditledger_lots WHERE account_id = 'w'")
		exec("DELETE FROM creditledger_accounts WHERE id = 'w'")
		anchored, err = l.VerifyWith(ctx, &ledger.VerifyOpts{Anchor: anchor})
		require.NoError(t, err)
		require.Equal(t, []string{"u", "v", "w"}, anchored.AnchorBroken)
		require.Contains(t, anchored.Violations[len(anchored.Violations)-1].Problem, "the account is gone")
	})
}
