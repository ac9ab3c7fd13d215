-- Results kept only in the row would be lost with result_text: they go back to pending, and
-- the older calculators compute them again into the object store.
UPDATE factorials SET status = 'pending', progress = 0, checksum = '', size = 0, digits = 0,
    compute_ms = 0, worker = '', computed_at = NULL, started_at = NULL, heartbeat_at = NULL
    WHERE status = 'done' AND "key" = '';

--bun:split

DROP INDEX IF EXISTS factorials_queued_client_idx;

--bun:split

DROP INDEX IF EXISTS factorials_unannounced_idx;

--bun:split

ALTER TABLE factorials DROP COLUMN client;

--bun:split

ALTER TABLE factorials DROP COLUMN cost_us;

--bun:split

ALTER TABLE factorials DROP COLUMN checked_at;

--bun:split

ALTER TABLE factorials DROP COLUMN announced_at;

--bun:split

ALTER TABLE factorials DROP COLUMN result_text;
