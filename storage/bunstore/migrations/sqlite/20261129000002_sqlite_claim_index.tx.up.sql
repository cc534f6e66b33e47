-- creditledger schema, version 5 (SQLite): one index for the distribution's
-- claim instead of two. A chunk's claim walks the accounts in ID order from
-- its cursor and keeps those whose next grant or next expiry is due; with
-- only the primary key it reads every account's row to see its times (a
-- run with nothing due reads the whole table). An index on (id,
-- next_grant_at, next_expiry_at) holds both times next to the ID, so the
-- walk reads the index alone and fetches only the rows it claims. The two
-- partial indexes on next_grant_at and next_expiry_at served no query (the
-- claim never ran on them) and cost two index writes per account whose
-- times a grant moves; the new index costs one.

DROP INDEX IF EXISTS creditledger_accounts_next_grant_at_idx;

--bun:split

DROP INDEX IF EXISTS creditledger_accounts_next_expiry_at_idx;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_due_idx
    ON creditledger_accounts (id, next_grant_at, next_expiry_at);
