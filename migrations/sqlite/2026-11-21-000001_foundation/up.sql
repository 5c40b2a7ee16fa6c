-- The directory of people and their scopes: users, businesses, roles,
-- role assignments and delegations, plus the audit trail and sign-in throttle.
CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    manager_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    language TEXT,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deactivated_at TIMESTAMP
);
CREATE INDEX users_manager ON users(manager_id);

CREATE TABLE businesses (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE roles (
    id INTEGER PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name_en TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    builtin BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE role_assignments (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id),
    business_id INTEGER REFERENCES businesses(id),
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
-- NULL business means "global"; COALESCE makes global assignments unique too.
CREATE UNIQUE INDEX role_assignments_unique ON role_assignments(user_id, role_id, COALESCE(business_id, 0));
CREATE INDEX role_assignments_role_business ON role_assignments(role_id, business_id);

CREATE TABLE delegations (
    id INTEGER PRIMARY KEY NOT NULL,
    from_user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    to_user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    process_kind TEXT,
    note TEXT NOT NULL DEFAULT '',
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK (from_user_id <> to_user_id)
);
CREATE INDEX delegations_from ON delegations(from_user_id, ends_at);
CREATE INDEX delegations_to ON delegations(to_user_id, ends_at);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    on_behalf_of_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    channel TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id INTEGER,
    apply_id INTEGER,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_subject ON audit_events(subject_type, subject_id);
CREATE INDEX audit_events_apply ON audit_events(apply_id);

CREATE TABLE sign_in_failures (
    id INTEGER PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_failures_username ON sign_in_failures(username, at);

-- The roles of both stories. Built-in roles can be renamed but not deleted;
-- a global "admin" assignment is what makes someone an administrator.
INSERT INTO roles (code, name_en, name_zh, description, builtin, created_at) VALUES
    ('admin', 'Administrator', '管理员', 'Manages people, processes and the service catalog', 1, '2026-11-21 00:00:00'),
    ('ops', 'Operations', '运维', 'Files and carries out changes', 1, '2026-11-21 00:00:00'),
    ('ops_lead', 'Operations lead', '运维负责人', 'Approves changes of the business', 1, '2026-11-21 00:00:00'),
    ('qc', 'Quality control', '质量控制', 'Evaluates finished changes', 1, '2026-11-21 00:00:00'),
    ('product', 'Product owner', '产品负责人', 'Owns the product of the business', 1, '2026-11-21 00:00:00'),
    ('vp', 'Vice president', '副总裁', 'Approves special requests', 1, '2026-11-21 00:00:00');
