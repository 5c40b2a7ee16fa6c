-- Mail waiting to be sent, written in the same transaction as the change
-- that causes it; a worker claims, sends and marks each message.
CREATE TABLE outbox (
    id SERIAL PRIMARY KEY,
    to_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    to_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    kind TEXT NOT NULL,
    apply_id INTEGER REFERENCES applies(id),
    -- pending, sent, failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- A worker's claim; another worker may take the message after it lapses.
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
