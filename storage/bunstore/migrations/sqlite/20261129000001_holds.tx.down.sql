DROP TABLE IF EXISTS creditledger_holds;

--bun:split

DROP INDEX IF EXISTS creditledger_entries_ref_idx;

--bun:split

DROP TRIGGER creditledger_entries_no_update;

--bun:split

ALTER TABLE creditledger_entries DROP COLUMN ref;

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
        AND NEW.available IS OLD.available)
BEGIN
    SELECT RAISE(ABORT, 'creditledger: creditledger_entries is append-only: UPDATE refused');
END;
