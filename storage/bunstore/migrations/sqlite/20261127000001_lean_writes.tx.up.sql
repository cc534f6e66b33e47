-- creditledger schema, version 2 (SQLite): nothing changes. Version 2 of the
-- PostgreSQL schema drops foreign keys and indexes that cost PostgreSQL
-- index writes and HOT updates; SQLite has neither cost, and dropping a
-- foreign key there means rebuilding the table. The file keeps the two
-- dialects' version numbers in step.

SELECT 1;
