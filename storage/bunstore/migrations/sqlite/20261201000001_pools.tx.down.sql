-- Back to schema 5 (SQLite): the pools' columns go. Refused while a debt
-- lot exists (the old remaining check fails).

DROP TRIGGER creditledger_entries_no_update;

--bun:split

DROP INDEX IF EXISTS creditledger_entries_pool_idx;

--bun:split

ALTER TABLE creditledger_entries DROP COLUMN pool;

--bun:split

ALTER TABLE creditledger_entries DROP COLUMN feature;

--bun:split

ALTER TABLE creditledger_entries DROP COLUMN quantity;

--bun:split

ALTER TABLE creditledger_entries DROP COLUMN effective_at;

--bun:split

ALTER TABLE creditledger_holds DROP COLUMN pool;

--bun:split

ALTER TABLE creditledger_accounts DROP COLUMN multi_pool;

--bun:split

CREATE TRIGGER creditledger_entries_no_update
    BEFORE UPDATE ON creditledger_entries
    WHEN NOT (OLD.hash IS NULL AND NEW.hash IS NOT NULL
        AND NEW.id IS OLD.id AND NEW.account_id IS OLD.account_id AND NEW.seq IS OLD.seq
        AND NEW.operation_id IS OLD.operation_id AND NEW.lot_id IS OLD.lot_id AND NEW.kind IS OLD.kind
        AND NEW.amount IS OLD.amount AND NEW.balance_after IS OLD.balance_after AND NEW.source IS OLD.source
        AND NEW.description IS OLD.description AND NEW.metadata IS OLD.metadata
        AND NEW.created_at IS OLD.created_at AND NEW.expires_at IS OLD.expires_at
        AND NEW.idempotency_key IS OLD.idempotency_key AND NEW.param_hash IS OLD.param_hash
        AND NEW.available IS OLD.available AND NEW.ref IS OLD.ref)
BEGIN
    SELECT RAISE(ABORT, 'creditledger: creditledger_entries is append-only: UPDATE refused');
END;

--bun:split

CREATE TABLE creditledger_lots_v5 (
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

INSERT INTO creditledger_lots_v5 (id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at)
SELECT id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at FROM creditledger_lots;

--bun:split

DROP TABLE creditledger_lots;

--bun:split

ALTER TABLE creditledger_lots_v5 RENAME TO creditledger_lots;

--bun:split

CREATE INDEX creditledger_lots_expires_at_idx ON creditledger_lots (expires_at) WHERE remaining > 0;
