ALTER TABLE outbox DROP COLUMN composed;
ALTER TABLE outbox DROP COLUMN link_token;
ALTER TABLE outbox DROP COLUMN comment;
ALTER TABLE outbox DROP COLUMN for_user_id;
ALTER TABLE outbox DROP COLUMN node_id;
