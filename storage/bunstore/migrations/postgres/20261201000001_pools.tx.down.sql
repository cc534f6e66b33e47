-- Back to schema 5: the pools' columns go, and with them every record's
-- pool, feature, quantity, effective_at and debt flag. Refused while a
-- debt lot exists (the old remaining check fails). The function first, as
-- in the up migration (Citus).

DROP FUNCTION IF EXISTS creditledger_lock_and_load(text[], text[], text[], text[]);

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

--bun:split

DROP INDEX IF EXISTS creditledger_entries_pool_idx;

--bun:split

ALTER TABLE creditledger_lots DROP CONSTRAINT IF EXISTS creditledger_lots_remaining_check;

--bun:split

ALTER TABLE creditledger_lots ADD CONSTRAINT creditledger_lots_remaining_check CHECK (remaining >= 0 AND remaining <= amount);

--bun:split

ALTER TABLE creditledger_lots DROP COLUMN IF EXISTS pool, DROP COLUMN IF EXISTS effective_at, DROP COLUMN IF EXISTS debt;

--bun:split

ALTER TABLE creditledger_entries DROP COLUMN IF EXISTS pool, DROP COLUMN IF EXISTS feature,
    DROP COLUMN IF EXISTS quantity, DROP COLUMN IF EXISTS effective_at;

--bun:split

ALTER TABLE creditledger_holds DROP COLUMN IF EXISTS pool;

--bun:split

ALTER TABLE creditledger_accounts DROP COLUMN IF EXISTS multi_pool;
