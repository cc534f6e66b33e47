DROP TABLE IF EXISTS creditledger_holds;

--bun:split

DROP INDEX IF EXISTS creditledger_entries_ref_idx;

--bun:split

ALTER TABLE creditledger_entries DROP COLUMN IF EXISTS ref;
