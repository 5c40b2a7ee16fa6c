-- The oldest message still waiting, for /healthz and the admin page.
CREATE INDEX outbox_status_id ON outbox(status, id);

-- When an administrator last put a message back in line: its retry period
-- runs from then (else from when it was written, which also names it in
-- its Message-ID and so never changes).
ALTER TABLE outbox ADD COLUMN retry_since TIMESTAMP;
