-- Restores what 20261127000001_lean_writes removed, except the foreign keys:
-- rows written without them are checked by Verify instead.

DROP FUNCTION IF EXISTS creditledger_lock_and_load(text[], text[], text[]);

--bun:split

DROP FUNCTION IF EXISTS creditledger_require_count(text, bigint, bigint);

--bun:split

DROP INDEX IF EXISTS creditledger_operations_idempotency_key_key;

--bun:split

ALTER TABLE creditledger_operations
    ADD CONSTRAINT creditledger_operations_idempotency_key_key UNIQUE (idempotency_key);

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_next_grant_at_idx
    ON creditledger_accounts (next_grant_at) WHERE next_grant_at IS NOT NULL;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_next_expiry_at_idx
    ON creditledger_accounts (next_expiry_at) WHERE next_expiry_at IS NOT NULL;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_lots_open_idx
    ON creditledger_lots (account_id) WHERE remaining > 0;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_lots_expires_at_idx
    ON creditledger_lots (expires_at) WHERE remaining > 0;

--bun:split

ALTER TABLE creditledger_accounts RESET (fillfactor);

--bun:split

ALTER TABLE creditledger_lots RESET (fillfactor);
