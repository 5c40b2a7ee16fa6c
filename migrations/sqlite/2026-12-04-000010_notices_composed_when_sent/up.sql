-- A ticket's notice is composed when it is sent, not in the transaction
-- of the change that causes it: the row keeps what its words need (the
-- ticket, the step, whom the recipient stands in for, the comment) and the
-- one-click link's token until the mail is sent. A link's lifetime counts
-- from when its mail was sent.
ALTER TABLE outbox ADD COLUMN node_id INTEGER;
ALTER TABLE outbox ADD COLUMN for_user_id INTEGER;
ALTER TABLE outbox ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN link_token TEXT;
ALTER TABLE outbox ADD COLUMN composed BOOLEAN NOT NULL DEFAULT TRUE;
