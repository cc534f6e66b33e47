-- creditledger schema, version 7 (SQLite): the outbox, the same model as
-- PostgreSQL's version 7 (see its file). seq is given by the inserting
-- statement, one more than the greatest seq stored (transactions are
-- serialized, so it grows in the order events are written; a pruned
-- newest event's seq may be given again, and is still greater than every
-- stored one).

CREATE TABLE creditledger_events (
    account_id   TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    id           TEXT NOT NULL,
    pool         TEXT NOT NULL DEFAULT '',
    type         TEXT NOT NULL,
    operation_id TEXT,
    lot_id       TEXT,
    amount       INTEGER NOT NULL,
    balance      INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    leased_until INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    acked_at     INTEGER,
    PRIMARY KEY (account_id, seq)
) STRICT, WITHOUT ROWID;

--bun:split

CREATE INDEX creditledger_events_seq_idx ON creditledger_events (seq);

--bun:split

CREATE INDEX creditledger_events_unacked_idx ON creditledger_events (seq) WHERE acked_at IS NULL;

--bun:split

CREATE TABLE creditledger_lot_notices (
    account_id TEXT NOT NULL,
    lot_id     TEXT NOT NULL,
    PRIMARY KEY (account_id, lot_id)
) STRICT, WITHOUT ROWID;
