package bunstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// AccountWithOpenLots reads what Account and Lots (OnlyOpen, Now) read, in
// one query.
func TestAccountWithOpenLots(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := setup(t, db)
		_, _, err := s.AccountWithOpenLots(ctx, "nobody", t0)
		require.True(t, errors.Is(err, storage.ErrNotFound), "unknown account: %v", err)

		// An account without lots.
		require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			_, err := tx.LockAccounts(ctx, []string{"empty"}, true, t0)
			return err
		}))
		a, lots, err := s.AccountWithOpenLots(ctx, "empty", t0)
		require.NoError(t, err)
		require.Equal(t, "empty", a.ID)
		require.Empty(t, lots)

		soon, later := t0.Add(time.Hour), t0.Add(48*time.Hour)
		for i, exp := range []*time.Time{&soon, &later, nil} {
			require.NoError(t, grant(ctx, s, grantParams{account: "u", key: "k" + string(rune('0'+i)), amount: int64(10 * (i + 1)),
				expiresAt: exp, now: t0, n: i}))
		}
		for _, now := range []time.Time{t0, soon, later, later.Add(time.Hour)} {
			a, lots, err := s.AccountWithOpenLots(ctx, "u", now)
			require.NoError(t, err)
			wantAcct, err := s.Account(ctx, "u")
			require.NoError(t, err)
			require.Equal(t, *wantAcct, *a)
			want, err := s.Lots(ctx, storage.LotQuery{Account: "u", OnlyOpen: true, Now: now})
			require.NoError(t, err)
			require.Equal(t, want, lots, "at %s", now)
		}
		_, lots, err = s.AccountWithOpenLots(ctx, "u", soon)
		require.NoError(t, err)
		require.Len(t, lots, 2, "the lot expiring at now is expired")
	})
}
