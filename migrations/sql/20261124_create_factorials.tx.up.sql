-- The record of every factorial request (platform/database.Record).
-- One file for PostgreSQL and SQLite: only syntax both accept, and IF NOT EXISTS so that a
-- run interrupted between the commit and the bookkeeping can run again.
-- Times are TIMESTAMPTZ on PostgreSQL and, on SQLite, UTC text that bun writes as
-- '2006-01-02 15:04:05.999999+00:00' (text order is time order).
CREATE TABLE IF NOT EXISTS factorials (
    number       BIGINT           NOT NULL PRIMARY KEY CHECK (number >= 0),
    status       TEXT             NOT NULL CHECK (status IN ('pending', 'computing', 'done', 'failed')),
    attempts     INTEGER          NOT NULL DEFAULT 0,
    progress     DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    "key"        TEXT             NOT NULL DEFAULT '',
    bucket       TEXT             NOT NULL DEFAULT '',
    checksum     TEXT             NOT NULL DEFAULT '',
    size         BIGINT           NOT NULL DEFAULT 0,
    digits       BIGINT           NOT NULL DEFAULT 0,
    compute_ms   BIGINT           NOT NULL DEFAULT 0,
    error        TEXT             NOT NULL DEFAULT '',
    worker       TEXT             NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ      NOT NULL,
    updated_at   TIMESTAMPTZ      NOT NULL,
    requested_at TIMESTAMPTZ      NOT NULL,
    started_at   TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ,
    computed_at  TIMESTAMPTZ
);

--bun:split

-- The reconciler's two questions (Factorials.Stuck): pending too long, heartbeat too old.
CREATE INDEX IF NOT EXISTS factorials_pending_idx ON factorials (requested_at) WHERE status = 'pending';

--bun:split

CREATE INDEX IF NOT EXISTS factorials_computing_idx ON factorials (heartbeat_at) WHERE status = 'computing';
