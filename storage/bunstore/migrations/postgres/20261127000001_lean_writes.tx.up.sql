-- creditledger schema, version 2 (PostgreSQL): fewer index and constraint
-- writes per ledger write. Measured at 1,000 accounts per distribution
-- chunk, the six foreign-key checks of a grant were half of the chunk's
-- time; see BENCHMARKS.md.
--
-- * Foreign keys go. Only the library writes these tables, each batch in
--   one statement that names rows it has just locked or inserted, and
--   Verify checks every reference (every lot has its grant entry, every
--   entry its account and lot). Entries stay append-only (the trigger).
-- * The partial indexes on lots' remaining go: with "remaining" in an
--   index predicate no lot debit could be a HOT update. Open lots are
--   found through creditledger_lots_account_id_idx (a few lots per
--   account), and due expiries through the accounts' next_expiry_at.
-- * The accounts' indexes on next_grant_at and next_expiry_at go. The
--   distribution claims due accounts in ID order with a LIMIT, for which
--   the planner walks the primary key and filters (with or without them);
--   and an update that changes an indexed column is never HOT.
-- * Lots and accounts keep a fifth of each page free, so that debits and
--   balance updates can stay on their page (HOT) instead of writing a
--   new entry into every index.
-- * The idempotency key index leaves out operations without a key (the
--   expiry sweep, consumes without one), which never need it.

ALTER TABLE creditledger_operations
    DROP CONSTRAINT IF EXISTS creditledger_operations_account_id_fkey;

--bun:split

ALTER TABLE creditledger_lots
    DROP CONSTRAINT IF EXISTS creditledger_lots_account_id_fkey,
    DROP CONSTRAINT IF EXISTS creditledger_lots_operation_id_fkey;

--bun:split

ALTER TABLE creditledger_entries
    DROP CONSTRAINT IF EXISTS creditledger_entries_account_id_fkey,
    DROP CONSTRAINT IF EXISTS creditledger_entries_operation_id_fkey,
    DROP CONSTRAINT IF EXISTS creditledger_entries_lot_id_fkey;

--bun:split

DROP INDEX IF EXISTS creditledger_accounts_next_grant_at_idx;

--bun:split

DROP INDEX IF EXISTS creditledger_accounts_next_expiry_at_idx;

--bun:split

DROP INDEX IF EXISTS creditledger_lots_open_idx;

--bun:split

DROP INDEX IF EXISTS creditledger_lots_expires_at_idx;

--bun:split

ALTER TABLE creditledger_accounts SET (fillfactor = 80);

--bun:split

ALTER TABLE creditledger_lots SET (fillfactor = 80);

--bun:split

ALTER TABLE creditledger_operations
    DROP CONSTRAINT IF EXISTS creditledger_operations_idempotency_key_key;

--bun:split

-- Same name as the constraint it replaces: errors name it.
CREATE UNIQUE INDEX IF NOT EXISTS creditledger_operations_idempotency_key_key
    ON creditledger_operations (idempotency_key) WHERE idempotency_key IS NOT NULL;
