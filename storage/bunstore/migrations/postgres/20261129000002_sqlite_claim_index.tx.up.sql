-- creditledger schema, version 5 (PostgreSQL): nothing changes. Version 5 of
-- the SQLite schema gives the distribution's claim an index of its own; on
-- PostgreSQL the claim already walks the primary key (schema 2 dropped the
-- indexes on the accounts' times so that their updates stay HOT). The file
-- keeps the two dialects' version numbers in step.

SELECT 1;
