package bunstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/creditledger/creditledger/storage"
)

// statementLog is a bun query hook that records every statement it sees.
type statementLog struct {
	mu    sync.Mutex
	seen  []string
	arged int // statements bun formatted arguments into
}

func (l *statementLog) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	return ctx
}

func (l *statementLog) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, e.Query)
	if len(e.QueryArgs) > 0 {
		l.arged++
		l.seen = append(l.seen, "WITH ARGUMENTS: "+e.Query)
	}
}

// take returns the statements seen since the last call, and how many of
// them had arguments.
func (l *statementLog) take() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, arged := l.seen, l.arged
	l.seen, l.arged = nil, 0
	return out, arged
}

// TestSQLiteStatementsThroughBun: every statement of a SQLite write
// transaction (BEGIN, the lock and load, each write of Apply, COMMIT)
// reaches bun's query hooks, written as complete SQL text (no arguments
// for bun to format), and does what it says: the consume is in the
// account's balance and history.
func TestSQLiteStatementsThroughBun(t *testing.T) {
	s := sqliteGranted(t)
	log := &statementLog{}
	s.DB().AddQueryHook(log)
	ctx := t.Context()

	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, loaded, err := tx.LockAndLoad(ctx, []string{"u"}, false, t0, storage.LoadQuery{LotsOf: []string{"u"}})
		if err != nil {
			return err
		}
		require.Len(t, loaded.Lots, 1)
		return tx.Apply(ctx, sqliteConsumeBatch(accts[0]))
	})
	require.NoError(t, err)
	seen, arged := log.take()
	require.Len(t, seen, 6, "BEGIN, lock and load, entries, debit, account, COMMIT: %q", seen)
	require.Equal(t, "BEGIN IMMEDIATE", seen[0])
	require.Contains(t, seen[1], "FROM creditledger_accounts WHERE id = 'u'")
	require.Contains(t, seen[1], "FROM creditledger_lots")
	require.True(t, strings.HasPrefix(seen[2], "INSERT INTO creditledger_entries"), seen[2])
	require.True(t, strings.HasPrefix(seen[3], "UPDATE creditledger_lots SET remaining = remaining - 4"), seen[3])
	require.True(t, strings.HasPrefix(seen[4], "UPDATE creditledger_accounts SET balance = 96"), seen[4])
	require.Equal(t, "COMMIT", seen[5])
	require.Zero(t, arged, "statements given to bun with arguments: %q", seen)

	a, err := s.Account(ctx, "u")
	require.NoError(t, err)
	require.Equal(t, int64(96), a.Balance)
	require.Equal(t, int64(2), a.Seq)
	log.take() // the read outside a transaction, which bun formats with its arguments

	// A hold made and ended (released) in two transactions: its
	// statements go through bun too.
	expires := t0.Add(time.Hour)
	hold := storage.Hold{ID: "h-1", Account: "u", Amount: 5, State: storage.HoldActive, ExpiresAt: expires, CreatedAt: t0,
		Lines: []storage.HoldLine{{LotID: "lot-1", Amount: 5}}}
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		return tx.Apply(ctx, &storage.Batch{Holds: []storage.Hold{hold}})
	}))
	require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		loaded, err := tx.Load(ctx, storage.LoadQuery{HoldsOf: []string{"u"}})
		if err != nil {
			return err
		}
		require.Len(t, loaded.Holds, 1)
		return tx.Apply(ctx, &storage.Batch{HoldUpdates: []storage.HoldUpdate{{Account: "u", ID: "h-1",
			State: storage.HoldReleased, EndedAt: t0.Add(time.Minute), EndOperationID: "op-release"}}})
	}))
	seen, arged = log.take()
	joined := strings.Join(seen, "\n")
	require.Contains(t, joined, "INSERT INTO creditledger_holds")
	require.Contains(t, joined, "FROM creditledger_holds WHERE account_id IN ('u') AND state = 'active'")
	require.Contains(t, joined, "UPDATE creditledger_holds SET state = 'released'")
	require.Zero(t, arged, "statements given to bun with arguments: %q", seen)
	holds, err := s.Holds(ctx, storage.HoldQuery{Account: "u"})
	require.NoError(t, err)
	require.Len(t, holds, 1)
	require.Equal(t, storage.HoldReleased, holds[0].State)
	require.Equal(t, "op-release", holds[0].EndOperationID)
	require.Equal(t, []storage.HoldLine{{LotID: "lot-1", Amount: 5}}, holds[0].Lines)
}
