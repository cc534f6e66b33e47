package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

func testDuplicateKey(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "k1", "lot-1", 10, nil)
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"u", "v"}, true, t0)
		require.NoError(t, err)
		return tx.Apply(ctx, grantBatch(accts[0], "op-2", "k1", "lot-2", 10, nil, t0))
	})
	require.ErrorIs(t, err, storage.ErrDuplicateKey)
	_, err = s.Account(ctx, "v")
	require.ErrorIs(t, err, storage.ErrNotFound, "nothing of the failed transaction is kept")
	lots, err := s.Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, lots, 1)

	// Keys are per account: the same key on another account is another
	// call.
	grant(t, s, "v", "k1", "lot-2", 7, nil)
	v, err := s.Account(ctx, "v")
	require.NoError(t, err)
	require.EqualValues(t, 7, v.Balance)
}
