-- creditledger schema, version 4 (PostgreSQL): holds and reversals.
--
-- * Entries get a ref: the hold a release or capture entry ends, the
--   operation a reverse entry reverses (hashed into the chain when set).
--   Reversals find what was reversed before through the index.
-- * creditledger_holds records each hold: what it took from each lot
--   (lines, a JSON array of {"lot": id, "amount": minor units}), its
--   expiry and state. The credits themselves left their lots through the
--   hold entries, so a lot's remaining never includes held credits.
--   Keyed (account_id, id) like every table with an account.

ALTER TABLE creditledger_entries ADD COLUMN IF NOT EXISTS ref text COLLATE "C";

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_entries_ref_idx
    ON creditledger_entries (account_id, ref) WHERE ref IS NOT NULL;

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_holds (
    account_id       text COLLATE "C" NOT NULL,
    id               text COLLATE "C" NOT NULL,
    amount           bigint NOT NULL,
    captured         bigint NOT NULL DEFAULT 0,
    state            text NOT NULL,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    end_operation_id text COLLATE "C",
    lines            jsonb NOT NULL,
    PRIMARY KEY (account_id, id),
    CONSTRAINT creditledger_holds_amount_check CHECK (amount > 0 AND captured >= 0 AND captured <= amount),
    CONSTRAINT creditledger_holds_state_check CHECK (state IN ('active', 'captured', 'released', 'expired'))
);

--bun:split

-- The active holds of an account (every write that sweeps, every Balance).
CREATE INDEX IF NOT EXISTS creditledger_holds_active_idx
    ON creditledger_holds (account_id, expires_at) WHERE state = 'active';
