-- creditledger schema, version 4 (SQLite): holds and reversals, the same
-- model as PostgreSQL's version 4 (see its file): entries get a ref, and
-- creditledger_holds records each hold with its lines as JSON text.

ALTER TABLE creditledger_entries ADD COLUMN ref TEXT;

--bun:split

CREATE INDEX creditledger_entries_ref_idx ON creditledger_entries (account_id, ref) WHERE ref IS NOT NULL;

--bun:split

CREATE TABLE creditledger_holds (
    account_id       TEXT NOT NULL,
    id               TEXT NOT NULL,
    amount           INTEGER NOT NULL,
    captured         INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL,
    expires_at       INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    end_operation_id TEXT,
    lines            TEXT NOT NULL,
    PRIMARY KEY (account_id, id),
    CONSTRAINT creditledger_holds_amount_check CHECK (amount > 0 AND captured >= 0 AND captured <= amount),
    CONSTRAINT creditledger_holds_state_check CHECK (state IN ('active', 'captured', 'released', 'expired'))
) STRICT, WITHOUT ROWID;

--bun:split

CREATE INDEX creditledger_holds_active_idx ON creditledger_holds (account_id, expires_at) WHERE state = 'active';

--bun:split

-- The append-only trigger names every column: ref joins them.
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
        AND NEW.available IS OLD.available AND NEW.ref IS OLD.ref)
BEGIN
    SELECT RAISE(ABORT, 'creditledger: creditledger_entries is append-only: UPDATE refused');
END;
