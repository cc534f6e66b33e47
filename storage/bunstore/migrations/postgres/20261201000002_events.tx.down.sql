DROP TABLE IF EXISTS creditledger_lot_notices;

--bun:split

DROP TABLE IF EXISTS creditledger_events;
