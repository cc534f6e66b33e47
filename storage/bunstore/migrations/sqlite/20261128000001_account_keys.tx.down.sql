-- Schema 3 cannot go back to schema 2 without rebuilding every call's
-- operation row from its first entry; restore a backup instead.

SELECT RAISE(ABORT, 'creditledger: schema 3 has no down migration; restore a backup taken before it');
