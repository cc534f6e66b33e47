-- creditledger schema, version 3 (SQLite): the same model as PostgreSQL's
-- version 3 (see its file). No row per call: a call's key, parameter hash
-- and available balance live on its first entry; keys are unique per
-- account; lots are keyed (account_id, id) and entries (account_id, seq);
-- grant entries record their lot's expiry; every entry gets a hash (filled
-- by the Go migration that follows) and accounts keep the head. Like
-- PostgreSQL's, the tables have no foreign keys: Verify checks every
-- reference. SQLite changes a primary key by rebuilding the table.

ALTER TABLE creditledger_accounts ADD COLUMN head_hash BLOB;

--bun:split

CREATE TABLE creditledger_lots_v3 (
    id           TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    source       TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    remaining    INTEGER NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, id),
    CONSTRAINT creditledger_lots_remaining_check CHECK (remaining >= 0 AND remaining <= amount)
) STRICT, WITHOUT ROWID;

--bun:split

INSERT INTO creditledger_lots_v3 (id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at)
SELECT id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at FROM creditledger_lots;

--bun:split

CREATE TABLE creditledger_entries_v3 (
    id              TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    operation_id    TEXT NOT NULL,
    lot_id          TEXT,
    kind            TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    balance_after   INTEGER NOT NULL,
    source          TEXT NOT NULL DEFAULT '',
    description     TEXT NOT NULL DEFAULT '',
    metadata        TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    idempotency_key TEXT,
    param_hash      TEXT,
    available       INTEGER,
    hash            BLOB,
    PRIMARY KEY (account_id, seq)
) STRICT, WITHOUT ROWID;

--bun:split

-- Each call's record moves onto its first entry; a grant entry records its
-- lot's expiry.
INSERT INTO creditledger_entries_v3 (id, account_id, seq, operation_id, lot_id, kind, amount, balance_after,
    source, description, metadata, created_at, expires_at, idempotency_key, param_hash, available)
SELECT e.id, e.account_id, e.seq, e.operation_id, e.lot_id, e.kind, e.amount, e.balance_after,
    e.source, e.description, e.metadata, e.created_at,
    CASE WHEN e.kind = 'grant' THEN (SELECT l.expires_at FROM creditledger_lots AS l WHERE l.id = e.lot_id) END,
    o.idempotency_key,
    CASE WHEN o.idempotency_key IS NULL THEN NULL ELSE o.hash END,
    o.available
FROM creditledger_entries AS e
LEFT JOIN creditledger_operations AS o
    ON o.id = e.operation_id AND o.account_id = e.account_id
    AND e.seq = (SELECT min(f.seq) FROM creditledger_entries AS f
                 WHERE f.account_id = e.account_id AND f.operation_id = e.operation_id);

--bun:split

-- A keyed call without an entry cannot be carried over: refuse to lose it
-- (the CHECK fails the migration).
CREATE TEMP TABLE creditledger_v3_check (lost INTEGER NOT NULL CHECK (lost = 0));

--bun:split

INSERT INTO creditledger_v3_check (lost)
SELECT count(*) FROM creditledger_operations AS o
WHERE o.idempotency_key IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM creditledger_entries_v3 AS e WHERE e.account_id = o.account_id AND e.idempotency_key = o.idempotency_key);

--bun:split

DROP TABLE creditledger_v3_check;

--bun:split

DROP TABLE creditledger_entries;

--bun:split

DROP TABLE creditledger_lots;

--bun:split

DROP TABLE creditledger_operations;

--bun:split

ALTER TABLE creditledger_lots_v3 RENAME TO creditledger_lots;

--bun:split

ALTER TABLE creditledger_entries_v3 RENAME TO creditledger_entries;

--bun:split

CREATE INDEX creditledger_lots_expires_at_idx ON creditledger_lots (expires_at) WHERE remaining > 0;

--bun:split

CREATE INDEX creditledger_entries_operation_id_idx ON creditledger_entries (account_id, operation_id);

--bun:split

CREATE UNIQUE INDEX creditledger_entries_idempotency_key_key
    ON creditledger_entries (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

--bun:split

-- Entries are the ledger's history: once written, never changed or removed,
-- except that a hash may be filled once when nothing else changes (the
-- upgrade hashes the history written before schema 3).
CREATE TRIGGER creditledger_entries_no_update
    BEFORE UPDATE ON creditledger_entries
    WHEN NOT (OLD.hash IS NULL AND NEW.hash IS NOT NULL
        AND NEW.id IS OLD.id AND NEW.account_id IS OLD.account_id AND NEW.seq IS OLD.seq
        AND NEW.operation_id IS OLD.operation_id AND NEW.lot_id IS OLD.lot_id AND NEW.kind IS OLD.kind
        AND NEW.amount IS OLD.amount AND NEW.balance_after IS OLD.balance_after AND NEW.source IS OLD.source
        AND NEW.description IS OLD.description AND NEW.metadata IS OLD.metadata
        AND NEW.created_at IS OLD.created_at AND NEW.expires_at IS OLD.expires_at
        AND NEW.idempotency_key IS OLD.idempotency_key AND NEW.param_hash IS OLD.param_hash
        AND NEW.available IS OLD.available)
BEGIN
    SELECT RAISE(ABORT, 'creditledger: creditledger_entries is append-only: UPDATE refused');
END;

--bun:split

CREATE TRIGGER creditledger_entries_no_delete
    BEFORE DELETE ON creditledger_entries
BEGIN
    SELECT RAISE(ABORT, 'creditledger: creditledger_entries is append-only: DELETE refused');
END;
