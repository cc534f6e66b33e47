package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

func testInitScale(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.Init(ctx, 0), "the same scale again is fine")
	err := s.Init(ctx, 2)
	require.ErrorIs(t, err, storage.ErrScaleMismatch)
}
