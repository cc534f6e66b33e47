package bunstore

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/creditledger/creditledger/storage"
)

// hashChainMigration is the Go half of schema 3, run right after its SQL
// (same number in both dialects): it hashes the history written before
// schema 3 with storage.EntryHash, the function the ledger uses for every
// entry it writes, and sets every account's head.
const (
	hashChainMigrationName    = "20261128000002"
	hashChainMigrationComment = "hash_chain"
	hashChainPage             = 500 // accounts per transaction
)

func (s *Store) addHashChainMigration(m *migrate.Migrations) {
	m.Add(migrate.Migration{
		Name:    hashChainMigrationName,
		Comment: hashChainMigrationComment,
		Up: func(ctx context.Context, db *bun.DB, _ any) error {
			return s.hashHistory(ctx, db)
		},
		Down: func(context.Context, *bun.DB, any) error { return nil },
	})
}

// hashHistory chains the entries that have no hash yet, a page of accounts
// per transaction, and sets the accounts' heads. It can run again after a
// failure: it recomputes each chain from the account's first entry and
// fills only the hashes that are missing. On PostgreSQL it then makes the
// hash column NOT NULL.
func (s *Store) hashHistory(ctx context.Context, db *bun.DB) error {
	after := ""
	for {
		var last string
		var n int
		err := s.retry(ctx, func() error {
			btx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = btx.Rollback() }()
			last, n, err = s.hashPage(ctx, btx, after)
			if err != nil {
				return err
			}
			return btx.Commit()
		})
		if err != nil {
			return fmt.Errorf("hashing the history of accounts after %q: %w", after, err)
		}
		if n < hashChainPage {
			break
		}
		after = last
	}
	if s.kind == postgres {
		if _, err := db.ExecContext(ctx, "ALTER TABLE creditledger_entries ALTER COLUMN hash SET NOT NULL"); err != nil {
			return fmt.Errorf("hash NOT NULL: %w", err)
		}
	}
	return nil
}

// hashPage hashes the entries of one page of accounts in btx and returns
// the page's last account id and its number of accounts.
func (s *Store) hashPage(ctx context.Context, btx bun.Tx, after string) (last string, n int, err error) {
	// The accounts that have entries, whether or not their account row
	// exists (schema 2 has no foreign keys): every entry gets its hash,
	// so that the column can be NOT NULL, and Verify then reports the
	// orphans.
	ids, err := queryAll(ctx, iconn{btx}, func(r rowScanner) (id string, err error) { return id, r.Scan(&id) },
		"SELECT DISTINCT account_id FROM creditledger_entries WHERE account_id > ? ORDER BY account_id LIMIT ?", after, hashChainPage)
	if err != nil || len(ids) == 0 {
		return "", 0, err
	}
	in, arg := s.inList("account_id", ids)
	entries, err := queryAll(ctx, iconn{btx}, scanEntryV5,
		"SELECT "+entryColumnsV3.list("")+", NULL FROM creditledger_entries WHERE "+in+" ORDER BY account_id, seq", arg)
	if err != nil {
		return "", 0, err
	}
	var fills []hashFill
	var heads []hashFill // account and hash of its newest entry
	for i := range entries {
		e := &entries[i]
		var prev []byte
		if k := len(heads); k > 0 && heads[k-1].account == e.Account {
			prev = heads[k-1].hash
		} else {
			heads = append(heads, hashFill{account: e.Account})
		}
		h := storage.EntryHash(prev, e)
		heads[len(heads)-1].hash = h
		if e.Hash == nil {
			fills = append(fills, hashFill{e.Account, e.Seq, h})
		}
	}
	if s.kind == postgres {
		err = pgFillHashes(ctx, btx, fills, heads)
	} else {
		err = sqliteFillHashes(ctx, &sqliteTx{s: s, db: btx}, fills, heads)
	}
	if err != nil {
		return "", 0, err
	}
	return ids[len(ids)-1], len(ids), nil
}

// pgFillHashes writes the hashes of fills and the heads of the accounts.
func pgFillHashes(ctx context.Context, btx bun.Tx, fills, heads []hashFill) error {
	if len(fills) > 0 {
		if _, err := btx.ExecContext(ctx, `UPDATE creditledger_entries AS e SET hash = u.hash
FROM `+hashFillColumns.pgUnnest()+` AS u(account_id, seq, hash)
WHERE e.account_id = u.account_id AND e.seq = u.seq AND e.hash IS NULL`, pgColumnArgs(hashFillColumns, fills, false)...); err != nil {
			return err
		}
	}
	_, err := btx.ExecContext(ctx, `UPDATE creditledger_accounts AS a SET head_hash = u.hash
FROM `+headColumns.pgUnnest()+` AS u(id, hash) WHERE a.id = u.id`, pgColumnArgs(headColumns, heads, false)...)
	return err
}

// sqliteFillHashes is pgFillHashes on SQLite.
func sqliteFillHashes(ctx context.Context, t *sqliteTx, fills, heads []hashFill) error {
	if _, err := execRows(ctx, t, hashFillColumns, fills, func(col func(int) string, values string) string {
		return "UPDATE creditledger_entries SET hash = " + col(2) + " FROM (" + values + ") AS v WHERE account_id = " + col(0) +
			" AND seq = " + col(1) + " AND hash IS NULL"
	}); err != nil {
		return err
	}
	_, err := execRows(ctx, t, headColumns, heads, func(col func(int) string, values string) string {
		return "UPDATE creditledger_accounts SET head_hash = " + col(1) + " FROM (" + values + ") AS v WHERE id = " + col(0)
	})
	return err
}
