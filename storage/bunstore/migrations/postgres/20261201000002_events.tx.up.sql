-- creditledger schema, version 7 (PostgreSQL): the outbox.
--
-- * creditledger_events holds the events each write appended in its own
--   transaction (storage/events.go): what happened, and its delivery
--   state (leased_until, attempts, acked_at). seq comes from one sequence:
--   every write locks its account, so an account's events get increasing
--   seq in the order they were written (and, on Citus, where the
--   coordinator evaluates the default of a distributed insert, the same).
--   Keyed (account_id, seq), like every table with an account, so that it
--   distributes with its account on Citus. id is the ledger's name of the
--   event (a ULID, unique by construction); AckEvents finds it within its
--   account through the primary key's account_id.
-- * The claim walks the unacknowledged events by seq: a partial index
--   that acknowledged events leave; listing the newest events walks seq.
--   The per-account check of the claim (every earlier unacknowledged
--   event of the account in the same claim) reads the primary key.
-- * creditledger_lot_notices records, once per lot, that its
--   credits.expiring event was written.

CREATE TABLE IF NOT EXISTS creditledger_events (
    account_id   text COLLATE "C" NOT NULL,
    seq          bigserial NOT NULL,
    id           text COLLATE "C" NOT NULL,
    pool         text COLLATE "C" NOT NULL DEFAULT '',
    type         text NOT NULL,
    operation_id text COLLATE "C",
    lot_id       text COLLATE "C",
    amount       bigint NOT NULL,
    balance      bigint NOT NULL,
    at           timestamptz NOT NULL,
    leased_until timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    acked_at     timestamptz,
    PRIMARY KEY (account_id, seq)
);

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_events_seq_idx ON creditledger_events (seq);

--bun:split

CREATE INDEX IF NOT EXISTS creditledger_events_unacked_idx ON creditledger_events (seq) WHERE acked_at IS NULL;

--bun:split

CREATE TABLE IF NOT EXISTS creditledger_lot_notices (
    account_id text COLLATE "C" NOT NULL,
    lot_id     text COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, lot_id)
);
