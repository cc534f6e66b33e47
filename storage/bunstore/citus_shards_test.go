package bunstore_test

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/creditledger/creditledger/internal/testdb"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// remoteLog collects what Citus sends to the workers, from the NOTICEs of
// citus.log_remote_commands: "issuing <command>", DETAIL "on server
// user@host:port connectionId: N".
type remoteLog struct {
	mu       sync.Mutex
	commands []remoteCommand
}

type remoteCommand struct{ sql, server string }

func (r *remoteLog) notice(_ *pgconn.PgConn, n *pgconn.Notice) {
	sql, ok := strings.CutPrefix(n.Message, "issuing ")
	if !ok {
		return
	}
	server := strings.TrimPrefix(n.Detail, "on server ")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, remoteCommand{sql, server})
}

func (r *remoteLog) take() []remoteCommand {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.commands
	r.commands = nil
	return out
}

var shardName = regexp.MustCompile(`creditledger_[a-z]+_([0-9]+)\b`)

// TestCitusPerAccountCallsAreSingleShard runs every per-account call on a
// distributed schema with Citus logging what it sends to the workers
// (citus.log_remote_commands), and checks that each call's statements go
// over one connection to one worker and name shards of one shard group
// (the account's): the call is a transaction on one worker.
func TestCitusPerAccountCallsAreSingleShard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.CitusDSN(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("options", "-c citus.log_remote_commands=on -c client_min_messages=log")
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	require.NoError(t, err)
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	log := &remoteLog{}
	cfg.OnNotice = log.notice
	sqldb := stdlib.OpenDB(*cfg)
	db := bun.NewDB(sqldb, pgdialect.New())
	t.Cleanup(func() { _ = db.Close() })
	s, err := bunstore.New(db, nil)
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l, err := ledger.New(s, &ledger.Config{Catalog: policy.ReferenceCatalog(), Now: func() time.Time { return now }})
	require.NoError(t, err)
	require.True(t, s.Citus())

	// The shard group of every shard of the schema: its hash range.
	group := map[int64]string{}
	rows, err := db.QueryContext(ctx, `SELECT s.shardid, s.shardminvalue FROM pg_dist_shard AS s
JOIN pg_class AS c ON c.oid = s.logicalrelid
WHERE c.relnamespace = current_schema()::regnamespace AND s.shardminvalue IS NOT NULL`)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var min string
		require.NoError(t, rows.Scan(&id, &min))
		group[id] = min
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())

	const account = "alice"
	var holdID, grantOp string
	calls := []struct {
		name string
		call func() error
	}{
		{"SetPlan", func() error { return l.SetPlan(ctx, ledger.PlanParams{Account: account, Plan: "free"}) }},
		{"Grant", func() error {
			r, err := l.Grant(ctx, ledger.GrantParams{Account: account, IdempotencyKey: "pack-1", Amount: decimal.NewFromInt(100)})
			if err == nil {
				grantOp = r.OperationID
			}
			return err
		}},
		{"Grant replayed", func() error {
			_, err := l.Grant(ctx, ledger.GrantParams{Account: account, IdempotencyKey: "pack-1", Amount: decimal.NewFromInt(100)})
			return err
		}},
		{"Consume", func() error {
			_, err := l.Consume(ctx, ledger.ConsumeParams{Account: account, IdempotencyKey: "req-1", Amount: decimal.NewFromInt(7)})
			return err
		}},
		{"Hold", func() error {
			h, err := l.Hold(ctx, ledger.HoldParams{Account: account, Amount: decimal.NewFromInt(5)})
			if err == nil {
				holdID = h.ID
			}
			return err
		}},
		{"Capture", func() error {
			_, err := l.Capture(ctx, ledger.CaptureParams{Account: account, HoldID: holdID, Amount: decimal.NewFromInt(3)})
			return err
		}},
		{"Reverse", func() error {
			_, err := l.Reverse(ctx, ledger.ReverseParams{Account: account, OperationID: grantOp, Amount: ptr(decimal.NewFromInt(10))})
			return err
		}},
		{"Balance", func() error { _, err := l.Balance(ctx, account); return err }},
		{"BalanceAt", func() error { _, err := l.BalanceAt(ctx, account, now.Add(-time.Minute)); return err }},
		{"Entries", func() error { _, err := l.Entries(ctx, account, nil); return err }},
		{"Holds", func() error { _, err := l.Holds(ctx, account); return err }},
	}
	log.take()
	var twoPhase []string
	for _, c := range calls {
		require.NoError(t, c.call(), c.name)
		cmds := log.take()
		require.NotEmpty(t, cmds, "%s: sent nothing to a worker", c.name)
		servers, groups := map[string]bool{}, map[string]bool{}
		prepared := false
		for _, cmd := range cmds {
			servers[cmd.server] = true
			prepared = prepared || strings.Contains(cmd.sql, "PREPARE TRANSACTION")
			for _, m := range shardName.FindAllStringSubmatch(cmd.sql, -1) {
				id, err := strconv.ParseInt(m[1], 10, 64)
				require.NoError(t, err)
				if g, ok := group[id]; ok {
					groups[g] = true
				}
			}
		}
		if len(servers) != 1 || len(groups) != 1 {
			t.Errorf("%s: not confined to the account's shards: %d worker connections, %d shard groups; it sent:\n%s",
				c.name, len(servers), len(groups), dumpCommands(cmds))
		}
		if prepared {
			// Citus commits with two-phase commit a transaction that wrote
			// through the coordinator (INSERT ... SELECT FROM unnest is
			// sent as COPY), even to one worker; see docs/SCALING.md.
			twoPhase = append(twoPhase, c.name)
		}
	}
	t.Logf("committed with two-phase commit on their one worker: %v", twoPhase)
}

func ptr[T any](v T) *T { return &v }

func dumpCommands(cmds []remoteCommand) string {
	var b strings.Builder
	for _, c := range cmds {
		b.WriteString(c.server + ": " + c.sql + "\n")
	}
	return b.String()
}
