-- Personal access tokens for the API: a name, a scope (read, or act:
-- read plus filing and deciding), an expiry; only the secret's hash is
-- kept. A revoked token stays listed with who revoked it and when.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    -- The secret's first characters, to tell tokens apart in lists.
    shown TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_by INTEGER REFERENCES users(id)
);
CREATE INDEX api_tokens_user ON api_tokens(user_id, id);
