-- Back to announced_at: what the flag says was announced gets a time (its computed_at, as
-- 20261126 did), what is owed keeps NULL.
UPDATE factorials SET announced_at = coalesce(computed_at, updated_at)
    WHERE status = 'done' AND unannounced = 0 AND announced_at IS NULL;

--bun:split

UPDATE factorials SET announced_at = NULL WHERE status = 'done' AND unannounced = 1;

--bun:split

DROP INDEX IF EXISTS factorials_owed_idx;

--bun:split

ALTER TABLE factorials DROP COLUMN unannounced;

--bun:split

CREATE INDEX IF NOT EXISTS factorials_unannounced_idx ON factorials (computed_at)
    WHERE status = 'done' AND announced_at IS NULL;
