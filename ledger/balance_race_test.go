package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
)

// lotsHookStore runs before once, before the first Lots read it serves:
// a write committed between the reads of one Balance call (after it read
// the account's holds, before it reads all its lots).
type lotsHookStore struct {
	storage.Store
	once   sync.Once
	before func()
}

func (s *lotsHookStore) Lots(ctx context.Context, q storage.LotQuery) ([]storage.Lot, error) {
	s.once.Do(s.before)
	return s.Store.Lots(ctx, q)
}

// TestBalanceReadsOneState: an expired hold swept between Balance's reads
// must not count its credits twice (it once answered 160 here).
func TestBalanceReadsOneState(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "u", IdempotencyKey: "g", Amount: d("100")})
		require.NoError(t, err)
		_, err = b.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d("60"), TTL: time.Minute})
		require.NoError(t, err)
		b.clock.Add(2 * time.Minute)

		hooked := &lotsHookStore{Store: b.store, before: func() {
			res, err := b.l.ExpireDue(ctx)
			require.NoError(t, err)
			require.True(t, res.Complete)
		}}
		l := b.l.WithStore(hooked)
		bal, err := l.Balance(ctx, "u")
		require.NoError(t, err)
		require.True(t, d("100").Equal(bal.Available), "available %s, want 100", bal.Available)
		require.True(t, bal.Held.IsZero(), "held %s, want 0", bal.Held)
		requireVerified(t, b)
	})
}
