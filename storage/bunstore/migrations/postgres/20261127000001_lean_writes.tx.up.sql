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
-- * creditledger_lock_and_load locks accounts and reads their open lots and
--   the operations of some keys in one round trip (see lockload.go).

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

--bun:split

-- Locks p_ids (FOR UPDATE, in ID order), then returns them, the open lots
-- of p_lots_of and the operations of p_keys, as rows of one shape whose
-- r_kind says what each is: 0 account, 1 lot, 2 operation. VOLATILE, so
-- each statement takes a new snapshot (READ COMMITTED): the lots and
-- operations are read after the locks are held, and show what their
-- holders committed.
CREATE OR REPLACE FUNCTION creditledger_lock_and_load(p_ids text[], p_lots_of text[], p_keys text[])
RETURNS TABLE (
    r_kind int, r_id text, r_account text, r_s1 text, r_s2 text, r_s3 text,
    r_i1 bigint, r_i2 bigint, r_i3 bigint,
    r_t1 timestamptz, r_t2 timestamptz, r_t3 timestamptz, r_t4 timestamptz
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY
        SELECT 0, a.id::text, a.id::text, a.plan, NULL::text, NULL::text,
               a.balance, a.seq, NULL::bigint,
               a.anchor, a.created_at, a.next_grant_at, a.next_expiry_at
        FROM creditledger_accounts AS a
        WHERE a.id = ANY (p_ids)
        ORDER BY a.id
        FOR UPDATE;
    IF cardinality(p_lots_of) > 0 THEN
        RETURN QUERY
            SELECT 1, l.id::text, l.account_id::text, l.operation_id::text, l.source, NULL::text,
                   l.amount, l.remaining, l.priority,
                   l.expires_at, l.created_at, NULL::timestamptz, NULL::timestamptz
            FROM creditledger_lots AS l
            WHERE l.account_id = ANY (p_lots_of) AND l.remaining > 0;
    END IF;
    IF cardinality(p_keys) > 0 THEN
        RETURN QUERY
            SELECT 2, o.id::text, o.account_id::text, o.idempotency_key::text, o.kind, o.hash,
                   o.available, NULL::bigint, NULL::bigint,
                   o.created_at, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz
            FROM creditledger_operations AS o
            WHERE o.idempotency_key = ANY (p_keys);
    END IF;
END;
$$;

--bun:split

-- Returns got, or fails the statement when it is not want: Apply's last
-- line checks that every lot it debits and every account it updates
-- exists, so that a pipelined COMMIT never follows a short write.
CREATE OR REPLACE FUNCTION creditledger_require_count(what text, got bigint, want bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF got IS DISTINCT FROM want THEN
        RAISE EXCEPTION 'creditledger: % of % % do not exist', want - got, want, what
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN got;
END;
$$;
