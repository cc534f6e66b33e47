-- creditledger schema, version 1 (PostgreSQL).
--
-- Amounts are bigint minor units (the scale is in creditledger_meta), times
-- are timestamptz. Identifiers use the "C" collation so that ID order is byte
-- order, the same as Go's string comparison and SQLite's BINARY collation.
-- Every statement is idempotent, so re-running this file after a crash
-- between running it and recording it is harmless.

CREATE TABLE IF NOT EXISTS creditledger_meta (
    key   text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_accounts (
    id             text COLLATE "C" PRIMARY KEY,
    plan           text NOT NULL DEFAULT '',
    anchor         timestamptz,
    balance        bigint NOT NULL DEFAULT 0,
    seq            bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    next_grant_at  timestamptz,
    next_expiry_at timestamptz
);

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_next_grant_at_idx
    ON creditledger_accounts (next_grant_at) WHERE next_grant_at IS NOT NULL;

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_accounts_next_expiry_at_idx
    ON creditledger_accounts (next_expiry_at) WHERE next_expiry_at IS NOT NULL;

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_operations (
    id              text COLLATE "C" PRIMARY KEY,
    idempotency_key text COLLATE "C",
    kind            text NOT NULL,
    account_id      text COLLATE "C" NOT NULL REFERENCES creditledger_accounts (id),
    hash            text NOT NULL DEFAULT '',
    available       bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    CONSTRAINT creditledger_operations_idempotency_key_key UNIQUE (idempotency_key)
);

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_lots (
    id           text COLLATE "C" PRIMARY KEY,
    account_id   text COLLATE "C" NOT NULL REFERENCES creditledger_accounts (id),
    operation_id text COLLATE "C" NOT NULL REFERENCES creditledger_operations (id),
    source       text NOT NULL,
    amount       bigint NOT NULL,
    remaining    bigint NOT NULL,
    priority     bigint NOT NULL DEFAULT 0,
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL,
    CONSTRAINT creditledger_lots_remaining_check CHECK (remaining >= 0 AND remaining <= amount)
);

--bun:split

-- All lots of an account (Lots, Scan).
CREATE INDEX IF NOT EXISTS creditledger_lots_account_id_idx
    ON creditledger_lots (account_id);

--bun:split

-- Open lots of an account (Load, on every consume).
CREATE INDEX IF NOT EXISTS creditledger_lots_open_idx
    ON creditledger_lots (account_id) WHERE remaining > 0;

--bun:split

-- Open lots by expiry (the expiry sweep).
CREATE INDEX IF NOT EXISTS creditledger_lots_expires_at_idx
    ON creditledger_lots (expires_at) WHERE remaining > 0;

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_entries (
    id            text COLLATE "C" PRIMARY KEY,
    account_id    text COLLATE "C" NOT NULL REFERENCES creditledger_accounts (id),
    seq           bigint NOT NULL,
    operation_id  text COLLATE "C" NOT NULL REFERENCES creditledger_operations (id),
    lot_id        text COLLATE "C" REFERENCES creditledger_lots (id),
    kind          text NOT NULL,
    amount        bigint NOT NULL,
    balance_after bigint NOT NULL,
    source        text NOT NULL DEFAULT '',
    description   text NOT NULL DEFAULT '',
    metadata      jsonb,
    created_at    timestamptz NOT NULL,
    CONSTRAINT creditledger_entries_account_id_seq_key UNIQUE (account_id, seq)
);

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_entries_operation_id_idx
    ON creditledger_entries (operation_id);

--bun:split

-- Entries are the ledger's history: once written, never changed or removed.
CREATE OR REPLACE FUNCTION creditledger_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'creditledger: creditledger_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

--bun:split

DROP TRIGGER IF EXISTS creditledger_entries_append_only ON creditledger_entries;

--bun:split

CREATE TRIGGER creditledger_entries_append_only
    BEFORE UPDATE OR DELETE ON creditledger_entries
    FOR EACH ROW EXECUTE FUNCTION creditledger_entries_append_only();

--bun:split

DROP TRIGGER IF EXISTS creditledger_entries_no_truncate ON creditledger_entries;

--bun:split

CREATE TRIGGER creditledger_entries_no_truncate
    BEFORE TRUNCATE ON creditledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger_entries_append_only();
