-- What an API request sent with an Idempotency-Key answered, per person
-- and key, so that a retry gets the first answer and changes nothing; the
-- request's fingerprint tells a retry from a different request reusing
-- the key.
CREATE TABLE idempotency_keys (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, key)
);
-- Service accounts: people made by an administrator for pipelines, who
-- act only through API tokens and never sign in to the pages.
ALTER TABLE users ADD COLUMN service_account BOOLEAN NOT NULL DEFAULT FALSE;
