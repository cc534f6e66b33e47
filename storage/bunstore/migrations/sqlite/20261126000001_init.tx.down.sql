-- Drops everything 20261126000001_init created, history included.

DROP TABLE IF EXISTS creditledger_entries;

--bun:split

DROP TABLE IF EXISTS creditledger_lots;

--bun:split

DROP TABLE IF EXISTS creditledger_operations;

--bun:split

DROP TABLE IF EXISTS creditledger_accounts;

--bun:split

DROP TABLE IF EXISTS creditledger_meta;
