-- The pipeline's second step (issues 7 and 8): small results in the row, the outbox of
-- announcements, the reconciler's own clock, and what admission control counts.
-- One file for PostgreSQL and SQLite. SQLite has no ADD COLUMN IF NOT EXISTS: bun marks a
-- migration applied just after its transaction commits, so a crash in between (a window of a
-- statement) leaves a migration that fails on "duplicate column"; drop the columns by hand then.

-- The decimal text of a result of at most RESULT_ROW_MAX_BYTES, when it lives here instead of
-- in the object store ("key" is then empty).
ALTER TABLE factorials ADD COLUMN result_text TEXT NOT NULL DEFAULT '';

--bun:split

-- When JetStream acknowledged this result's factorial.computed; NULL while it is owed (the
-- reconciler announces done rows without it).
ALTER TABLE factorials ADD COLUMN announced_at TIMESTAMPTZ;

--bun:split

-- When the reconciler last found this pending or computing row's request held by JetStream.
ALTER TABLE factorials ADD COLUMN checked_at TIMESTAMPTZ;

--bun:split

-- events.Cost(number) in microseconds, and who asked (an API key id or a client address):
-- admission control sums the one and counts by the other over queued large requests.
ALTER TABLE factorials ADD COLUMN cost_us BIGINT NOT NULL DEFAULT 0;

--bun:split

ALTER TABLE factorials ADD COLUMN client TEXT NOT NULL DEFAULT '';

--bun:split

-- Results made before this migration were announced when they were made.
UPDATE factorials SET announced_at = computed_at WHERE status = 'done' AND announced_at IS NULL;

--bun:split

CREATE INDEX IF NOT EXISTS factorials_unannounced_idx ON factorials (computed_at)
    WHERE status = 'done' AND announced_at IS NULL;

--bun:split

CREATE INDEX IF NOT EXISTS factorials_queued_client_idx ON factorials (client)
    WHERE status IN ('pending', 'computing');
