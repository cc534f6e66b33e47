-- creditledger schema, version 1 (SQLite).
--
-- STRICT tables: amounts are INTEGER minor units and can never be stored as
-- REAL or TEXT; times are INTEGER microseconds since the Unix epoch (UTC), so
-- they sort and compare exactly. Text compares with the BINARY collation
-- (byte order), the same as Go and the "C" collation used on PostgreSQL.
-- Every statement is idempotent.

CREATE TABLE IF NOT EXISTS creditledger_meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_accounts (
    id             TEXT NOT NULL PRIMARY KEY,
    plan           TEXT NOT NULL DEFAULT '',
    anchor         INTEGER,
    balance        INTEGER NOT NULL DEFAULT 0,
    seq            INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    next_grant_at  INTEGER,
    next_expiry_at INTEGER
) STRICT;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_next_grant_at_idx
    ON creditledger_accounts (next_grant_at) WHERE next_grant_at IS NOT NULL;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_next_expiry_at_idx
    ON creditledger_accounts (next_expiry_at) WHERE next_expiry_at IS NOT NULL;

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_operations (
    id              TEXT NOT NULL PRIMARY KEY,
    idempotency_key TEXT,
    kind            TEXT NOT NULL,
    account_id      TEXT NOT NULL REFERENCES creditledger_accounts (id),
    hash            TEXT NOT NULL DEFAULT '',
    available       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    CONSTRAINT creditledger_operations_idempotency_key_key UNIQUE (idempotency_key)
) STRICT;

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_lots (
    id           TEXT NOT NULL PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES creditledger_accounts (id),
    operation_id TEXT NOT NULL REFERENCES creditledger_operations (id),
    source       TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    remaining    INTEGER NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL,
    CONSTRAINT creditledger_lots_remaining_check CHECK (remaining >= 0 AND remaining <= amount)
) STRICT;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_lots_account_id_idx
    ON creditledger_lots (account_id);

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_lots_open_idx
    ON creditledger_lots (account_id) WHERE remaining > 0;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_lots_expires_at_idx
    ON creditledger_lots (expires_at) WHERE remaining > 0;

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_entries (
    id            TEXT NOT NULL PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES creditledger_accounts (id),
    seq           INTEGER NOT NULL,
    operation_id  TEXT NOT NULL REFERENCES creditledger_operations (id),
    lot_id        TEXT REFERENCES creditledger_lots (id),
    kind          TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    source        TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    metadata      TEXT,
    created_at    INTEGER NOT NULL,
    CONSTRAINT creditledger_entries_account_id_seq_key UNIQUE (account_id, seq)
) STRICT;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_entries_operation_id_idx
    ON creditledger_entries (operation_id);

--bun:split

-- Entries are the ledger's history: once written, never changed or removed.
CREATE TRIGGER IF NOT EXISTS creditledger_entries_no_update
    BEFORE UPDATE ON creditledger_entries
BEGIN
    SELECT RAISE(ABORT, 'creditledger: creditledger_entries is append-only: UPDATE refused');
END;

--bun:split

CREATE TRIGGER IF NOT EXISTS creditledger_entries_no_delete
    BEFORE DELETE ON creditledger_entries
BEGIN
    SELECT RAISE(ABORT, 'creditledger: creditledger_entries is append-only: DELETE refused');
END;
