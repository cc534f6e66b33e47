-- Back to the indexes of version 4.

DROP INDEX IF EXISTS creditledger_accounts_due_idx;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_next_grant_at_idx
    ON creditledger_accounts (next_grant_at) WHERE next_grant_at IS NOT NULL;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_next_expiry_at_idx
    ON creditledger_accounts (next_expiry_at) WHERE next_expiry_at IS NOT NULL;
