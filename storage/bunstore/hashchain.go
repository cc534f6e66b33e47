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
			t := &tx{s: s, idb: btx}
			last, n, err = t.hashPage(ctx, after)
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

// hashPage hashes the entries of one page of accounts and returns the
// page's last account id and its number of accounts.
func (t *tx) hashPage(ctx context.Context, after string) (last string, n int, err error) {
	// The accounts that have entries, whether or not their account row
	// exists (schema 2 has no foreign keys): every entry gets its hash,
	// so that the column can be NOT NULL, and Verify then reports the
	// orphans.
	ids, err := queryAll(ctx, t, func(r rowScanner) (id string, err error) { return id, r.Scan(&id) },
		"SELECT DISTINCT account_id FROM creditledger_entries WHERE account_id > ? ORDER BY account_id LIMIT ?", after, hashChainPage)
	if err != nil || len(ids) == 0 {
		return "", 0, err
	}
	in, arg := t.s.inList("account_id", ids)
	entries, err := queryAll(ctx, t, scanEntry,
		"SELECT "+entryColsV3+", NULL FROM creditledger_entries WHERE "+in+" ORDER BY account_id, seq", arg)
	if err != nil {
		return "", 0, err
	}
	type fill struct {
		account string
		seq     int64
		hash    []byte
	}
	var fills []fill
	heads := map[string][]byte{}
	for i := range entries {
		e := &entries[i]
		h := storage.EntryHash(heads[e.Account], e)
		heads[e.Account] = h
		if e.Hash == nil {
			fills = append(fills, fill{e.Account, e.Seq, h})
		}
	}
	if t.s.kind == postgres {
		var account, seq, hash pgArray
		for _, f := range fills {
			account.str(f.account)
			seq.int(f.seq)
			hash.bytes(f.hash)
		}
		if len(fills) > 0 {
			if err := t.exec(ctx, `UPDATE creditledger_entries AS e SET hash = u.hash
FROM unnest(?::text[], ?::bigint[], ?::bytea[]) AS u(account_id, seq, hash)
WHERE e.account_id = u.account_id AND e.seq = u.seq AND e.hash IS NULL`, t.arrays(&account, &seq, &hash)...); err != nil {
				return "", 0, err
			}
		}
		var hid, hhash pgArray
		for id, h := range heads {
			hid.str(id)
			hhash.bytes(h)
		}
		if len(heads) > 0 {
			if err := t.exec(ctx, `UPDATE creditledger_accounts AS a SET head_hash = u.hash
FROM unnest(?::text[], ?::bytea[]) AS u(id, hash) WHERE a.id = u.id`, t.arrays(&hid, &hhash)...); err != nil {
				return "", 0, err
			}
		}
	} else {
		if _, err := t.updateRows(ctx, "u(account_id, seq, hash)", `UPDATE creditledger_entries SET hash = u.hash
FROM u WHERE creditledger_entries.account_id = u.account_id AND creditledger_entries.seq = u.seq
AND creditledger_entries.hash IS NULL`, len(fills), func(i int) []any {
			return []any{fills[i].account, fills[i].seq, fills[i].hash}
		}); err != nil {
			return "", 0, err
		}
		ids := make([]string, 0, len(heads))
		for id := range heads {
			ids = append(ids, id)
		}
		if _, err := t.updateRows(ctx, "u(id, hash)", `UPDATE creditledger_accounts SET head_hash = u.hash
FROM u WHERE creditledger_accounts.id = u.id`, len(ids), func(i int) []any {
			return []any{ids[i], heads[ids[i]]}
		}); err != nil {
			return "", 0, err
		}
	}
	return ids[len(ids)-1], len(ids), nil
}
