-- The announcement outbox as a flag instead of a time (issue 8, the embedded profile's
-- throughput): unannounced is 1 while a done result's factorial.computed is owed, 0 otherwise.
-- Marking a result announced used to set announced_at from NULL to a time, which changes the
-- size of the row, and SQLite then writes the whole row again, its digits (result_text, up to
-- 77 KB for n = 20,000) included, into its WAL and later into the database file: every small
-- result was written twice. A flag going from 0 to 1 keeps the row's size (SQLite stores both
-- integers in its record header alone), and SQLite overwrites a row of the same size in
-- place, writing only the pages that changed: 2 pages of the WAL per 40 KB row against 13
-- (measured). announced_at is no longer written or read; it stays for the older release.
-- One file for PostgreSQL and SQLite. Named to sort before 20261201 (cancelled): a fresh
-- database gets it before that migration's SQLite rebuild of the table (which keeps its
-- column and index), one migrated already gets it after; either order holds.

ALTER TABLE factorials ADD COLUMN unannounced SMALLINT NOT NULL DEFAULT 0;

--bun:split

UPDATE factorials SET unannounced = 1 WHERE status = 'done' AND announced_at IS NULL;

--bun:split

DROP INDEX IF EXISTS factorials_unannounced_idx;

--bun:split

CREATE INDEX IF NOT EXISTS factorials_owed_idx ON factorials (computed_at)
    WHERE status = 'done' AND unannounced = 1;
