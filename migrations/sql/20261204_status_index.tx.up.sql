-- The listing filtered by status (GET /api/v1/factorial?status=failed): newest first within
-- each status, so that a page of a rare status reads its own rows instead of walking the
-- listing's index (created_at, number) through every row of the others until it finds a
-- page or reaches the end. List asks each status for a page of its own and merges them.
-- One file for PostgreSQL and SQLite. On PostgreSQL the build holds a SHARE lock: reads go
-- on, writes wait for it (a second or two per million rows).

CREATE INDEX IF NOT EXISTS factorials_status_created_idx ON factorials (status, created_at, number);
