DROP INDEX IF EXISTS factorials_status_created_idx;
