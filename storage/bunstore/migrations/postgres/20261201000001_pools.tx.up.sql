-- creditledger schema, version 6 (PostgreSQL): credit pools, feature
-- prices, dated grants, lot expiry changes and debt lots (issue #21).
--
-- * Lots, entries and holds get a pool ('' is the default pool, the one
--   every record written before this schema is in).
-- * Lots get effective_at (a dated grant: not spendable before it; NULL:
--   from creation) and debt: a debt lot records what its pool owes under
--   an overdraft, with amount 0 and remaining <= 0. The remaining check
--   becomes: debt lots at or below 0, other lots within [0, amount].
-- * Entries get feature and quantity (a consume or hold priced by a
--   feature; NULL when none) and effective_at (a grant entry's lot's).
--   The new fields are hashed into the chain only when set, so the hashes
--   of the history written before stay as they were.
-- * A pool's entries are found through an index led by the account, kept
--   for entries of a pool other than the default one only, so that
--   writers that never name a pool pay no index write for it.
-- * Accounts get multi_pool, set once the account has a lot or hold outside
--   the default pool: until then its balance is the default pool's, which
--   a write then knows without reading the lots.
-- * creditledger_lock_and_load returns the lots' new columns and loads
--   open debt lots (remaining <> 0).
--
-- Nothing existing is rewritten: the new columns have constant defaults.

-- The function first: on Citus, a function command cannot follow DDL on a
-- distributed table in one transaction (plpgsql checks the columns it
-- names when it first runs, not when it is created).

DROP FUNCTION IF EXISTS creditledger_lock_and_load(text[], text[], text[], text[]);

--bun:split

-- Locks p_ids (FOR UPDATE, in ID order), then returns them, the open lots
-- of p_lots_of (remaining <> 0: open debt lots too), and the first entries
-- of the calls whose keys are (p_key_accounts[i], p_keys[i]), as rows of
-- one shape: row_kind says what each row is ('account', 'lot', 'call') and
-- the columns of the other kinds are NULL. VOLATILE, so each statement
-- takes a new snapshot (READ COMMITTED): the lots and calls are read after
-- the locks are held, and show what their holders committed.
CREATE FUNCTION creditledger_lock_and_load(p_ids text[], p_lots_of text[], p_key_accounts text[], p_keys text[])
RETURNS TABLE (
    row_kind text, id text, account_id text,
    plan text, anchor timestamptz, balance bigint, seq bigint, head_hash bytea,
    created_at timestamptz, next_grant_at timestamptz, next_expiry_at timestamptz,
    operation_id text, source text, amount bigint, remaining bigint, priority bigint, expires_at timestamptz,
    idempotency_key text, entry_kind text, param_hash text, available bigint,
    pool text, effective_at timestamptz, debt boolean, multi_pool boolean
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT 'account', a.id::text, a.id::text,
               a.plan, a.anchor, a.balance, a.seq, a.head_hash,
               a.created_at, a.next_grant_at, a.next_expiry_at,
               NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz,
               NULL::text, NULL::text, NULL::text, NULL::bigint,
               NULL::text, NULL::timestamptz, NULL::boolean, a.multi_pool
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
                   NULL::text, NULL::text, NULL::text, NULL::bigint,
                   l.pool::text, l.effective_at, l.debt, NULL::boolean
            FROM creditledger_lots AS l
            WHERE l.account_id = ANY (p_lots_of) AND l.remaining <> 0;
    END IF;
    IF cardinality(p_keys) > 0 THEN
        RETURN QUERY
            SELECT 'call', e.operation_id::text, e.account_id::text,
                   NULL::text, NULL::timestamptz, NULL::bigint, e.seq, NULL::bytea,
                   e.created_at, NULL::timestamptz, NULL::timestamptz,
                   NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz,
                   e.idempotency_key::text, e.kind, e.param_hash, e.available,
                   NULL::text, NULL::timestamptz, NULL::boolean, NULL::boolean
            FROM creditledger_entries AS e
            JOIN unnest(p_key_accounts, p_keys) AS k(account_id, key)
              ON e.account_id = k.account_id AND e.idempotency_key = k.key;
    END IF;
END;
$$;

--bun:split

ALTER TABLE creditledger_accounts ADD COLUMN IF NOT EXISTS multi_pool boolean NOT NULL DEFAULT false;

--bun:split

ALTER TABLE creditledger_lots
    ADD COLUMN IF NOT EXISTS pool         text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS effective_at timestamptz,
    ADD COLUMN IF NOT EXISTS debt         boolean NOT NULL DEFAULT false;

--bun:split

ALTER TABLE creditledger_lots DROP CONSTRAINT IF EXISTS creditledger_lots_remaining_check;

--bun:split

ALTER TABLE creditledger_lots ADD CONSTRAINT creditledger_lots_remaining_check
    CHECK (CASE WHEN debt THEN amount = 0 AND remaining <= 0 ELSE remaining >= 0 AND remaining <= amount END);

--bun:split

ALTER TABLE creditledger_entries
    ADD COLUMN IF NOT EXISTS pool         text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS feature      text COLLATE "C",
    ADD COLUMN IF NOT EXISTS quantity     text,
    ADD COLUMN IF NOT EXISTS effective_at timestamptz;

--bun:split

ALTER TABLE creditledger_holds ADD COLUMN IF NOT EXISTS pool text COLLATE "C" NOT NULL DEFAULT '';

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_entries_pool_idx
    ON creditledger_entries (account_id, pool, seq) WHERE pool <> '';
