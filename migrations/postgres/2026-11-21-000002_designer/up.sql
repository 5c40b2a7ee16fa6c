-- The designer: editable processes (drafts), their immutable deployed
-- versions, services bound to a version, the service catalog tree, and the
-- resource registry of the permission-request story.
CREATE TABLE processes (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    draft TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    revision INTEGER NOT NULL DEFAULT 1,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE process_versions (
    id SERIAL PRIMARY KEY,
    process_id INTEGER NOT NULL REFERENCES processes(id),
    number INTEGER NOT NULL,
    definition TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    deployed_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    deployed_at TIMESTAMP NOT NULL,
    UNIQUE (process_id, number)
);

CREATE TABLE services (
    id SERIAL PRIMARY KEY,
    name_en TEXT NOT NULL,
    name_zh TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    process_id INTEGER NOT NULL REFERENCES processes(id),
    version_id INTEGER NOT NULL REFERENCES process_versions(id),
    -- JSON array of role codes that may use the service; empty = everyone.
    visible_roles TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);
CREATE INDEX services_version ON services(version_id);

CREATE TABLE catalog_nodes (
    id SERIAL PRIMARY KEY,
    parent_id INTEGER REFERENCES catalog_nodes(id),
    name_en TEXT NOT NULL,
    name_zh TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX catalog_nodes_parent ON catalog_nodes(parent_id, position);

CREATE TABLE catalog_services (
    id SERIAL PRIMARY KEY,
    node_id INTEGER NOT NULL REFERENCES catalog_nodes(id),
    service_id INTEGER NOT NULL REFERENCES services(id),
    position INTEGER NOT NULL DEFAULT 0,
    UNIQUE (node_id, service_id)
);
CREATE INDEX catalog_services_service ON catalog_services(service_id);

CREATE TABLE resources (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    managed BOOLEAN NOT NULL DEFAULT FALSE,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX resources_owner ON resources(owner_id);

-- The catalog has one root that cannot be removed.
INSERT INTO catalog_nodes (parent_id, name_en, name_zh, position, created_at)
VALUES (NULL, 'Service catalog', '服务目录', 0, '2026-11-21 00:00:00');
