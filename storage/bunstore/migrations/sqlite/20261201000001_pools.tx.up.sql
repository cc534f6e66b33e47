-- creditledger schema, version 6 (SQLite): credit pools, feature prices,
-- dated grants, lot expiry changes and debt lots, the same model as
-- PostgreSQL's version 6 (see its file). SQLite cannot change a CHECK in
-- place, so creditledger_lots is rebuilt with the new remaining check
-- (debt lots at or below 0, other lots within [0, amount]); entries and
-- holds gain columns with constant defaults, and the append-only trigger,
-- which names every column of entries, names the new ones too.

CREATE TABLE creditledger_lots_v6 (
    id           TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    source       TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    remaining    INTEGER NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL,
    pool         TEXT NOT NULL DEFAULT '',
    effective_at INTEGER,
    debt         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id),
    CONSTRAINT creditledger_lots_remaining_check CHECK (CASE WHEN debt THEN amount = 0 AND remaining <= 0 ELSE remaining >= 0 AND remaining <= amount END)
) STRICT, WITHOUT ROWID;

--bun:split

INSERT INTO creditledger_lots_v6 (id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at)
SELECT id, account_id, operation_id, source, amount, remaining, priority, expires_at, created_at FROM creditledger_lots;

--bun:split

DROP TABLE creditledger_lots;

--bun:split

ALTER TABLE creditledger_lots_v6 RENAME TO creditledger_lots;

--bun:split

CREATE INDEX creditledger_lots_expires_at_idx ON creditledger_lots (expires_at) WHERE remaining > 0;

--bun:split

ALTER TABLE creditledger_entries ADD COLUMN pool TEXT NOT NULL DEFAULT '';

--bun:split

ALTER TABLE creditledger_entries ADD COLUMN feature TEXT;

--bun:split

ALTER TABLE creditledger_entries ADD COLUMN quantity TEXT;

--bun:split

ALTER TABLE creditledger_entries ADD COLUMN effective_at INTEGER;

--bun:split

ALTER TABLE creditledger_holds ADD COLUMN pool TEXT NOT NULL DEFAULT '';

--bun:split

ALTER TABLE creditledger_accounts ADD COLUMN multi_pool INTEGER NOT NULL DEFAULT 0;

--bun:split

-- A pool's entries (Entries filtered by pool), led by the account; only
-- entries outside the default pool, so writers that never name a pool pay
-- nothing for it.
CREATE INDEX creditledger_entries_pool_idx ON creditledger_entries (account_id, pool, seq) WHERE pool <> '';

--bun:split

DROP TRIGGER creditledger_entries_no_update;

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
        AND NEW.available IS OLD.available AND NEW.ref IS OLD.ref
        AND NEW.pool IS OLD.pool AND NEW.feature IS OLD.feature AND NEW.quantity IS OLD.quantity
        AND NEW.effective_at IS OLD.effective_at)
BEGIN
    SELECT RAISE(ABORT, 'creditledger: creditledger_entries is append-only: UPDATE refused');
END;
