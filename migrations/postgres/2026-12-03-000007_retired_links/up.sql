-- One-click links that stopped working before they were used, and why:
-- the person they were mailed to was deactivated and the step went back
-- to its assignee with a fresh link. Opening such a link says so.
CREATE TABLE retired_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    approve_user_id INTEGER NOT NULL REFERENCES approve_users(id),
    sent_to INTEGER REFERENCES users(id),
    reason TEXT NOT NULL,
    retired_at TIMESTAMP NOT NULL
);
