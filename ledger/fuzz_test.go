package ledger_test

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/memory"
)

// FuzzGrantConsumeInput feeds hostile account ids, keys and amounts to
// Grant and Consume. Every call either succeeds or fails with one of the
// typed errors, and a failed call writes nothing: the account's history
// has exactly as many entries as successful calls wrote.
func FuzzGrantConsumeInput(f *testing.F) {
	f.Add("user_1", "inv-1", "10", "3")
	f.Add("", "", "0", "-1")
	f.Add("u\x00", "k\x00", "1e999999999", "1.5")
	f.Add("ユーザー", "鍵", "0.000001", "99999999999999999999")
	f.Add("\xff\xfe", "creditledger:gift:x", "NaN", "1")
	f.Fuzz(func(t *testing.T, account, key, grantAmount, consumeAmount string) {
		l, err := ledger.New(memory.New(), &ledger.Config{Scale: 2})
		require.NoError(t, err)
		ctx := t.Context()
		typed := func(err error) bool {
			for _, want := range []error{ledger.ErrInvalidArgument, ledger.ErrInvalidAmount, ledger.ErrInsufficientCredits, ledger.ErrIdempotencyConflict} {
				if errors.Is(err, want) {
					return true
				}
			}
			return false
		}
		wrote := 0
		if amount, perr := decimal.NewFromString(grantAmount); perr == nil {
			rec, err := l.Grant(ctx, ledger.GrantParams{Account: account, IdempotencyKey: key, Amount: amount})
			if err != nil {
				require.True(t, typed(err), "untyped error: %v", err)
			} else {
				wrote += len(rec.Entries)
			}
		}
		if amount, perr := decimal.NewFromString(consumeAmount); perr == nil {
			rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: account, Amount: amount})
			if err != nil {
				require.True(t, typed(err), "untyped error: %v", err)
			} else {
				wrote += len(rec.Entries)
			}
		}
		page, err := l.Entries(ctx, account, &ledger.ListOpts{Limit: ledger.MaxPageSize})
		if wrote == 0 {
			require.Error(t, err, "nothing succeeded, so the account must not exist")
			return
		}
		require.NoError(t, err)
		require.Len(t, page.Entries, wrote)
	})
}
