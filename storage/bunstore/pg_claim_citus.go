package bunstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/creditledger/creditledger/storage"
)

// The Citus path of the calls that lock several accounts (LockAccounts,
// LockAndLoad, ClaimAccounts), taken when Init found the schema
// distributed (citus.go).
//
// Citus refuses a SELECT ... FOR UPDATE that spans shards ("could not run
// distributed query with FOR UPDATE/SHARE commands"), so these calls lock
// with one statement per shard: each names only accounts of that shard
// (id = ANY of them), which Citus routes to the one worker holding it,
// where PostgreSQL takes the row locks as on one database (FOR UPDATE,
// SKIP LOCKED, and the re-check of a waited-for row's WHERE on its newest
// version). Which shard an account is in is asked of Citus
// (get_shard_id_for_distribution_column), on the coordinator for a list of
// ids, or pushed down with the read that finds a claim's candidates.
//
// Every transaction locks in the same global order, shard by shard in
// ascending shard id and by ID within a shard, so that two of them
// locking overlapping sets cannot deadlock (a single account is locked by
// the store's usual one statement).

// citusShardOf is the select-list expression that names an account's
// shard; it runs on the coordinator or, pushed down, on the workers
// (Citus keeps its metadata on every node).
const citusShardOf = "get_shard_id_for_distribution_column('" + citusAccountsTable + "', id)"

// shardedID is an account id and the shard that holds it.
type shardedID struct {
	id    string
	shard int64
}

func scanShardedID(r rowScanner) (s shardedID, err error) { return s, r.Scan(&s.id, &s.shard) }

// byShard groups ids by shard, in ascending shard order, each group in ID
// order: the order the Citus path locks in.
func byShard(ids []shardedID) [][]string {
	slices.SortFunc(ids, func(a, b shardedID) int {
		return cmp.Or(cmp.Compare(a.shard, b.shard), strings.Compare(a.id, b.id))
	})
	var groups [][]string
	for i, s := range ids {
		if i == 0 || s.shard != ids[i-1].shard {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], s.id)
	}
	return groups
}

// citusGroups returns ids (sorted, distinct) grouped by shard, asking the
// coordinator once when there is more than one.
func (t *tx) citusGroups(ctx context.Context, ids []string) ([][]string, error) {
	if len(ids) <= 1 {
		return [][]string{ids}, nil
	}
	sharded, err := queryAll(ctx, t, scanShardedID,
		"SELECT id, "+citusShardOf+" FROM unnest(?::text[]) AS u(id)", t.textArray(ids))
	if err != nil {
		return nil, fmt.Errorf("finding the shards of %d accounts: %w", len(ids), err)
	}
	return byShard(sharded), nil
}

// lockCitusGroups locks each group of accounts (all of one shard) with one
// single-shard statement, in order, and returns the accounts locked, by
// ID. cond and condArgs add to the WHERE clause; skip adds SKIP LOCKED.
func (t *tx) lockCitusGroups(ctx context.Context, groups [][]string, cond string, condArgs []any, skip bool) ([]storage.Account, error) {
	query := "SELECT " + accountCols + " FROM creditledger_accounts WHERE id = ANY(?::text[])" + cond + " ORDER BY id FOR UPDATE"
	if skip {
		query += " SKIP LOCKED"
	}
	var out []storage.Account
	for _, g := range groups {
		got, err := queryAll(ctx, t, scanAccount, query, append([]any{t.textArray(g)}, condArgs...)...)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	sortAccounts(out)
	return out, nil
}

// lockAccountsCitus is LockAccounts on a distributed schema, once the
// missing accounts are created: ids (sorted, distinct) locked shard by
// shard.
func (t *tx) lockAccountsCitus(ctx context.Context, ids []string) ([]storage.Account, error) {
	groups, err := t.citusGroups(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("bunstore: locking accounts: %w", err)
	}
	accounts, err := t.lockCitusGroups(ctx, groups, "", nil, false)
	if err != nil {
		return nil, fmt.Errorf("bunstore: locking accounts: %w", err)
	}
	return accounts, nil
}

// claimCitus is ClaimAccounts on a distributed schema. It reads the next
// due accounts after the cursor across the shards without locking them
// (one multi-shard statement: each shard returns its first ones in ID
// order, the coordinator merges them), then locks them with one
// single-shard statement per shard that re-checks that each is still due:
// FOR UPDATE SKIP LOCKED leaves out those another transaction holds, and
// FOR UPDATE (q.Wait) waits for them and leaves out those no longer due
// once their holder committed. A skipping claim that came back short reads
// the next candidates and goes on until it has q.Limit accounts or none
// are left, as SKIP LOCKED with a LIMIT does on one database; a waiting
// claim stops after the first window in which it locked an account (it
// may come back short; see storage.ClaimQuery), so that all its locks are
// taken in the one global order.
func (t *tx) claimCitus(ctx context.Context, q storage.ClaimQuery) ([]storage.Account, error) {
	due, dueArgs := claimDue(q, t.s.timeArg(q.Now))
	cond := " AND " + due
	candidates := "SELECT id, " + citusShardOf + " FROM creditledger_accounts WHERE id > ?" + cond + " ORDER BY id LIMIT ?"
	cursor := q.After
	var out []storage.Account
	for len(out) < q.Limit {
		want := q.Limit - len(out)
		args := append(append([]any{cursor}, dueArgs...), want)
		found, err := queryAll(ctx, t, scanShardedID, candidates, args...)
		if err != nil {
			return nil, fmt.Errorf("bunstore: claiming accounts: reading candidates: %w", err)
		}
		if len(found) == 0 {
			break
		}
		cursor = found[len(found)-1].id
		locked, err := t.lockCitusGroups(ctx, byShard(found), cond, dueArgs, !q.Wait)
		if err != nil {
			return nil, fmt.Errorf("bunstore: claiming accounts: %w", err)
		}
		out = append(out, locked...)
		// A waiting claim stops at its first window that locked anything:
		// it holds no lock before that, so reading on keeps the one global
		// lock order, and a window whose accounts were all served while it
		// waited must not end the pass as if nothing were left.
		if len(found) < want || (q.Wait && len(out) > 0) {
			break
		}
	}
	sortAccounts(out)
	return out, nil
}

// citusPrune returns, on a distributed schema, the condition
// " AND col = ANY(?::text[])" and its argument, accounts: a statement that
// finds its rows through a join with unnest (Apply's updates, the look-up
// of keys) then runs on the shards of those accounts only, where Citus
// would otherwise send it to every shard (it prunes by conditions on the
// distribution column, not by joins). On one PostgreSQL it returns "" and
// nothing: the statements stay as they are.
func (t *tx) citusPrune(col string, accounts []string) (string, []any) {
	if !t.s.citus.Load() {
		return "", nil
	}
	return " AND " + col + " = ANY(?::text[])", []any{t.textArray(accounts)}
}
