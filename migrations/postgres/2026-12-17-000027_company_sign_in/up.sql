-- Company sign-in. A person comes from countersign itself ('local': a
-- password kept here), or from the company directory ('ldap', keyed by
-- their entry's unique id, entryUUID or objectGUID, which is never
-- reused as names and DNs may be) or an OpenID provider ('oidc', keyed
-- by issuer and subject). Only local people have a password here.
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_external ON users(origin, external_id);
-- A directory person's DN (lowercased), which others' manager names.
ALTER TABLE users ADD COLUMN external_dn TEXT;
CREATE INDEX users_external_dn ON users(external_dn);

-- A role the sync grants because its person is in a directory group: it
-- is taken away when they leave the group or the mapping goes, while
-- roles an administrator gave by hand are never touched by the sync.
ALTER TABLE role_assignments ADD COLUMN from_group BOOLEAN NOT NULL DEFAULT false;

-- "Members of this group hold this role (in this business, or
-- everywhere)". The group is a directory group's DN (lowercased) or a
-- name in the OpenID groups claim.
CREATE TABLE group_roles (
    id SERIAL PRIMARY KEY,
    group_name TEXT NOT NULL,
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    business_id INTEGER REFERENCES businesses(id) ON DELETE CASCADE,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX group_roles_unique ON group_roles(group_name, role_id, COALESCE(business_id, 0));

-- Each whole-directory sync and what it did. A scheduled one takes the
-- slot of its period ("schedule:<n>"): the first runner to insert it
-- syncs, every other instance finds it taken, so each period syncs once.
CREATE TABLE directory_syncs (
    id SERIAL PRIMARY KEY,
    slot TEXT UNIQUE,
    -- 1 while it runs, NULL once it has finished: one sync at a time.
    running INTEGER UNIQUE,
    -- schedule, admin or cli.
    trigger TEXT NOT NULL,
    started_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    deactivated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    -- JSON: the people created, updated, deactivated and reactivated,
    -- managers not found, entries skipped and why, roles granted and taken.
    report TEXT NOT NULL DEFAULT '{}',
    -- Why it failed (the directory unreachable, say); NULL if it did not.
    error TEXT
);

-- Settings an administrator changes on a page. sign_in: 'anyone' (local
-- passwords for all) or 'company' (only administrators sign in with a
-- local password; everyone else through the directory or OpenID).
CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
