package ledger_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

func TestDistributeProgress(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		ctx := t.Context()
		b := setup(t, newStore, &ledger.Config{Catalog: policy.ReferenceCatalog()})
		const accounts = 25
		for i := range accounts {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: "p" + strconv.Itoa(100+i), IdempotencyKey: "k" + strconv.Itoa(i), Amount: d("1")})
			require.NoError(t, err)
		}
		var calls []ledger.DistributeProgress
		res, err := b.l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: 10, Progress: func(p ledger.DistributeProgress) {
			calls = append(calls, p)
		}})
		require.NoError(t, err)
		require.True(t, res.Complete)
		require.Equal(t, accounts, res.Granted)

		// Chunks of 10, 10 and 5 accounts; the empty claims that end the
		// passes are not reported. On Citus a claim locks shard by shard,
		// so two workers claiming at once may split a chunk's accounts
		// between them (each locks what the other has not yet): more,
		// smaller chunks, the same accounts.
		if strings.HasSuffix(t.Name(), "/citus") {
			require.GreaterOrEqual(t, len(calls), 3)
		} else {
			require.Len(t, calls, 3)
		}
		for i, p := range calls {
			require.Equal(t, i+1, p.Chunks)
			require.Equal(t, -1, p.Remaining)
			require.Equal(t, p.Accounts, p.Processed+p.Errors)
			if i > 0 {
				require.GreaterOrEqual(t, p.Accounts, calls[i-1].Accounts)
				require.GreaterOrEqual(t, p.Elapsed, calls[i-1].Elapsed)
			}
		}
		last := calls[len(calls)-1]
		require.Equal(t, res.Accounts, last.Accounts)
		require.Equal(t, res.Granted, last.Granted)
		require.True(t, res.GrantedCredits.Equal(last.GrantedCredits))
		require.True(t, d("1250").Equal(last.GrantedCredits), "25 free-plan grants of 50, got %s", last.GrantedCredits)
		sum := 0
		for _, p := range calls {
			sum += p.ChunkAccounts
		}
		require.Equal(t, accounts, sum)

		// A second run has nothing to do and reports nothing.
		calls = nil
		_, err = b.l.Distribute(ctx, &ledger.DistributeOpts{ChunkSize: 10, Progress: func(p ledger.DistributeProgress) {
			calls = append(calls, p)
		}})
		require.NoError(t, err)
		require.Empty(t, calls)
	})
}
