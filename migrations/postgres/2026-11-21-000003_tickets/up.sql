-- Tickets (the seed's auth_apply), their planned nodes (auth_approve) and
-- the people on each node (auth_approve_user), access grants, and the
-- per-kind, per-day counters behind serial numbers.
CREATE TABLE applies (
    id SERIAL PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    service_id INTEGER NOT NULL REFERENCES services(id),
    version_id INTEGER NOT NULL REFERENCES process_versions(id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    applicant_id INTEGER NOT NULL REFERENCES users(id),
    business_id INTEGER REFERENCES businesses(id),
    -- running, finished, rejected, withdrawn, sent_back
    status TEXT NOT NULL,
    -- Every field value so far, as JSON, keyed by field key.
    form TEXT NOT NULL,
    -- The review outcome (successful, with_issues, unsuccessful) once known.
    outcome TEXT,
    -- Makes a double-submitted form create one ticket.
    submit_token TEXT NOT NULL UNIQUE,
    row_version INTEGER NOT NULL DEFAULT 1,
    last_urged_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX applies_applicant ON applies(applicant_id, id);
CREATE INDEX applies_status ON applies(status, id);
CREATE INDEX applies_service ON applies(service_id, id);
CREATE INDEX applies_created ON applies(created_at);

CREATE TABLE approves (
    id SERIAL PRIMARY KEY,
    apply_id INTEGER NOT NULL REFERENCES applies(id),
    position INTEGER NOT NULL,
    node_key TEXT NOT NULL,
    name_en TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- The node's mode as JSON ({"mode":"any"}, {"mode":"quorum","count":2}, …).
    mode TEXT NOT NULL,
    -- waiting, active, approved, rejected, skipped, done, cancelled
    status TEXT NOT NULL,
    -- Why the node was skipped or who was substituted, as JSON notes.
    notes TEXT NOT NULL DEFAULT '[]',
    row_version INTEGER NOT NULL DEFAULT 1,
    started_at TIMESTAMP,
    decided_at TIMESTAMP,
    UNIQUE (apply_id, position)
);

CREATE TABLE approve_users (
    id SERIAL PRIMARY KEY,
    approve_id INTEGER NOT NULL REFERENCES approves(id),
    apply_id INTEGER NOT NULL REFERENCES applies(id),
    position INTEGER NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    -- waiting (node not started), pending (may act), decided, cancelled, transferred
    status TEXT NOT NULL,
    -- approve, reject, done, auto (de-duplicated), send_back
    decision TEXT,
    -- Who actually acted: the assignee, or a delegate acting for them.
    acted_by INTEGER REFERENCES users(id),
    channel TEXT,
    comment TEXT NOT NULL DEFAULT '',
    decided_at TIMESTAMP,
    email_token_hash TEXT,
    email_token_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX approve_users_inbox ON approve_users(user_id, status, apply_id);
CREATE INDEX approve_users_node ON approve_users(approve_id, position);
CREATE INDEX approve_users_acted ON approve_users(acted_by, decided_at);
CREATE INDEX approve_users_apply ON approve_users(apply_id);
CREATE UNIQUE INDEX approve_users_token ON approve_users(email_token_hash);

CREATE TABLE grants (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    resource_id INTEGER NOT NULL REFERENCES resources(id),
    apply_id INTEGER NOT NULL REFERENCES applies(id),
    granted_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by INTEGER REFERENCES users(id),
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX grants_user ON grants(user_id, revoked_at);

CREATE TABLE serial_counters (
    prefix TEXT PRIMARY KEY NOT NULL,
    last INTEGER NOT NULL
);
