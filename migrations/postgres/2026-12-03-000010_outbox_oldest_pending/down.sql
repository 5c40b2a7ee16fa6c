ALTER TABLE outbox DROP COLUMN retry_since;
DROP INDEX outbox_status_id;
