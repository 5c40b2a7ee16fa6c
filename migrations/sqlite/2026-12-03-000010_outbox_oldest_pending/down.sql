DROP INDEX outbox_status_id;
