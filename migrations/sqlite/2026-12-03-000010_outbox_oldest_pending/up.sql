-- The oldest message still waiting, for /healthz and the admin page.
CREATE INDEX outbox_status_id ON outbox(status, id);
