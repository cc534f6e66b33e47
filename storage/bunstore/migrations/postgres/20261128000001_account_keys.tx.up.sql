-- creditledger schema, version 3 (PostgreSQL): the audited floor, keys per
-- account, every key and unique index led by the account, a hash chain.
--
-- * No row per call: creditledger_operations goes. A call's idempotency
--   key, the hash of its parameters and the available balance after it
--   move onto the call's first entry (idempotency_key, param_hash,
--   available), which the call writes anyway.
-- * Idempotency keys are unique per account: (account_id, idempotency_key).
--   The same key on two accounts names two calls.
-- * Every primary key and unique index of a table with an account starts
--   with account_id: lots (account_id, id), entries (account_id, seq), so
--   each table can be distributed by account (SCALING.md).
-- * Grant entries record their lot's expiry (expires_at), and every entry
--   gets a hash (filled by the Go migration that follows this one, which
--   hashes the existing history in Seq order) chaining it to the entry
--   before it; accounts keep the head.

ALTER TABLE creditledger_entries
    ADD COLUMN IF NOT EXISTS idempotency_key text COLLATE "C",
    ADD COLUMN IF NOT EXISTS param_hash      text,
    ADD COLUMN IF NOT EXISTS available       bigint,
    ADD COLUMN IF NOT EXISTS expires_at      timestamptz,
    ADD COLUMN IF NOT EXISTS hash            bytea;

--bun:split

ALTER TABLE creditledger_accounts ADD COLUMN IF NOT EXISTS head_hash bytea;

--bun:split

-- The history is rewritten once, here, with the append-only trigger off.
ALTER TABLE creditledger_entries DISABLE TRIGGER creditledger_entries_append_only;

--bun:split

-- Each call's record moves onto its first entry.
UPDATE creditledger_entries AS e
SET idempotency_key = o.idempotency_key,
    param_hash = CASE WHEN o.idempotency_key IS NULL THEN NULL ELSE o.hash END,
    available = o.available
FROM creditledger_operations AS o,
     LATERAL (SELECT min(f.seq) AS seq FROM creditledger_entries AS f
              WHERE f.account_id = o.account_id AND f.operation_id = o.id) AS first
WHERE e.account_id = o.account_id AND e.seq = first.seq;

--bun:split

-- A grant entry records its lot's expiry.
UPDATE creditledger_entries AS e
SET expires_at = l.expires_at
FROM creditledger_lots AS l
WHERE e.kind = 'grant' AND l.id = e.lot_id AND l.expires_at IS NOT NULL;

--bun:split

ALTER TABLE creditledger_entries ENABLE TRIGGER creditledger_entries_append_only;

--bun:split

-- A keyed call without an entry cannot be carried over: refuse to lose it.
DO $$
DECLARE
    lost bigint;
BEGIN
    SELECT count(*) INTO lost FROM creditledger_operations AS o
    WHERE o.idempotency_key IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM creditledger_entries AS e
        WHERE e.account_id = o.account_id AND e.operation_id = o.id);
    IF lost > 0 THEN
        RAISE EXCEPTION 'creditledger: % keyed operations have no entry; schema 3 would lose their keys', lost;
    END IF;
END;
$$;

--bun:split

DROP FUNCTION IF EXISTS creditledger_lock_and_load(text[], text[], text[]);

--bun:split

DROP TABLE creditledger_operations;

--bun:split

ALTER TABLE creditledger_entries DROP CONSTRAINT IF EXISTS creditledger_entries_pkey;

--bun:split

ALTER TABLE creditledger_entries DROP CONSTRAINT IF EXISTS creditledger_entries_account_id_seq_key;

--bun:split

ALTER TABLE creditledger_entries ADD CONSTRAINT creditledger_entries_pkey PRIMARY KEY (account_id, seq);

--bun:split

DROP INDEX IF EXISTS creditledger_entries_operation_id_idx;

--bun:split

-- A call's entries (a replay, a reversal by operation id).
CREATE INDEX IF NOT EXISTS creditledger_entries_operation_id_idx
    ON creditledger_entries (account_id, operation_id);

--bun:split

CREATE UNIQUE INDEX IF NOT EXISTS creditledger_entries_idempotency_key_key
    ON creditledger_entries (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

--bun:split

ALTER TABLE creditledger_lots DROP CONSTRAINT IF EXISTS creditledger_lots_pkey;

--bun:split

ALTER TABLE creditledger_lots ADD CONSTRAINT creditledger_lots_pkey PRIMARY KEY (account_id, id);

--bun:split

-- The primary key serves every look-up by account.
DROP INDEX IF EXISTS creditledger_lots_account_id_idx;

--bun:split

-- Entries stay append-only, with one exception: an entry's hash may be
-- filled once, when it has none and nothing else changes (the upgrade to
-- this schema hashes the history written before it).
CREATE OR REPLACE FUNCTION creditledger_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unhashed creditledger_entries;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL THEN
        unhashed := NEW;
        unhashed.hash := NULL;
        IF unhashed IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'creditledger: creditledger_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

--bun:split

-- Locks p_ids (FOR UPDATE, in ID order), then returns them, the open lots
-- of p_lots_of, and the first entries of the calls whose keys are
-- (p_key_accounts[i], p_keys[i]), as rows of one shape: row_kind says what
-- each row is ('account', 'lot', 'call') and the columns of the other
-- kinds are NULL. VOLATILE, so each statement takes a new snapshot (READ
-- COMMITTED): the lots and calls are read after the locks are held, and
-- show what their holders committed.
CREATE OR REPLACE FUNCTION creditledger_lock_and_load(p_ids text[], p_lots_of text[], p_key_accounts text[], p_keys text[])
RETURNS TABLE (
    row_kind text, id text, account_id text,
    plan text, anchor timestamptz, balance bigint, seq bigint, head_hash bytea,
    created_at timestamptz, next_grant_at timestamptz, next_expiry_at timestamptz,
    operation_id text, source text, amount bigint, remaining bigint, priority bigint, expires_at timestamptz,
    idempotency_key text, entry_kind text, param_hash text, available bigint
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT 'account', a.id::text, a.id::text,
               a.plan, a.anchor, a.balance, a.seq, a.head_hash,
               a.created_at, a.next_grant_at, a.next_expiry_at,
               NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz,
               NULL::text, NULL::text, NULL::text, NULL::bigint
        FROM creditledger_accounts AS a
        WHERE a.id = ANY (p_ids)
        ORDER BY a.id
        FOR UPDATE;
    IF cardinality(p_lots_of) > 0 THEN
        RETURN QUERY
            SELECT 'lot', l.id::text, l.account_id::text,
                   NULL::text, NULL::timestamptz, NULL::bigint, NULL::bigint, NULL::bytea,
                   l.created_at, NULL::timestamptz, NULL::timestamptz,
                   l.operation_id::text, l.source, l.amount, l.remaining, l.priority, l.expires_at,
                   NULL::text, NULL::text, NULL::text, NULL::bigint
            FROM creditledger_lots AS l
            WHERE l.account_id = ANY (p_lots_of) AND l.remaining > 0;
    END IF;
    IF cardinality(p_keys) > 0 THEN
        RETURN QUERY
            SELECT 'call', e.operation_id::text, e.account_id::text,
                   NULL::text, NULL::timestamptz, NULL::bigint, e.seq, NULL::bytea,
                   e.created_at, NULL::timestamptz, NULL::timestamptz,
                   NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz,
                   e.idempotency_key::text, e.kind, e.param_hash, e.available
            FROM creditledger_entries AS e
            JOIN unnest(p_key_accounts, p_keys) AS k(account_id, key)
              ON e.account_id = k.account_id AND e.idempotency_key = k.key;
    END IF;
END;
$$;
