-- The change calendar. A change process names the date-time range of
-- its form that is the change window, and the fields whose values are
-- the items it affects; each ticket of it has one row here (its window
-- in UTC) and one per affected item, normalised ("resource:7",
-- "business:2", "host:db01.example"). Windows are found by their start:
-- one longer than a week is marked long and looked up apart, so an
-- overlap query reads only starts within a week before its range.
CREATE TABLE changes (
    apply_id INTEGER PRIMARY KEY NOT NULL REFERENCES applies(id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    long_window BOOLEAN NOT NULL DEFAULT FALSE,
    emergency BOOLEAN NOT NULL DEFAULT FALSE,
    service_id INTEGER NOT NULL REFERENCES services(id),
    business_id INTEGER REFERENCES businesses(id),
    -- The affected items again, as a JSON list, so that a ticket's page
    -- reads its calendar facts in one row.
    items TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX changes_starts ON changes(long_window, starts_at, ends_at, emergency);
CREATE TABLE change_items (
    apply_id INTEGER NOT NULL REFERENCES applies(id),
    item TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    long_window BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (apply_id, item)
);
CREATE INDEX change_items_item ON change_items(item, long_window, starts_at);
-- Approval steps a ticket gained on filing beyond its process version's
-- (a soft freeze's or a conflict's approval), as JSON node definitions
-- placed after the submit step.
ALTER TABLE applies ADD COLUMN extra_nodes TEXT;
-- Freeze windows: local wall time of a zone, once or repeated weekly or
-- yearly; everywhere (scope []) or for some items (JSON list, as above).
-- A hard freeze refuses a change whose window touches it (emergencies
-- excepted); a soft one adds an approval by holders of its role.
CREATE TABLE freezes (
    -- Never reused: a ticket's added step is keyed by its freeze's id.
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name_en TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    reason_en TEXT NOT NULL DEFAULT '',
    reason_zh TEXT NOT NULL DEFAULT '',
    starts_local TIMESTAMP NOT NULL,
    ends_local TIMESTAMP NOT NULL,
    repeat TEXT NOT NULL,
    tz TEXT NOT NULL,
    strength TEXT NOT NULL,
    role_code TEXT,
    scope TEXT NOT NULL DEFAULT '[]',
    created_by INTEGER REFERENCES users(id),
    updated_at TIMESTAMP NOT NULL
);
-- Monitoring silences for approved change windows, kept in step with
-- Alertmanager by the job runner: one row per change it has looked at,
-- with the silence it made (if any), what it sent, and the ticket's
-- row_version when it last did; a ticket whose row_version moved on is
-- looked at again. A runner claims a row under a lease before it calls
-- Alertmanager, so that instances never make two silences for one change.
CREATE TABLE silences (
    apply_id INTEGER PRIMARY KEY NOT NULL REFERENCES applies(id),
    silence_id TEXT,
    starts_at TIMESTAMP,
    ends_at TIMESTAMP,
    matchers TEXT NOT NULL DEFAULT '[]',
    synced_version INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    last_error TEXT,
    updated_at TIMESTAMP NOT NULL
);
-- Calendar feeds (.ics) at secret addresses: one per person (the changes
-- they filed, approve or own a resource of) and one per business. Only
-- the token's SHA-256 is kept; rotating replaces it.
CREATE TABLE calendar_feeds (
    id INTEGER PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER REFERENCES users(id),
    business_id INTEGER REFERENCES businesses(id),
    created_by INTEGER REFERENCES users(id),
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX calendar_feeds_user ON calendar_feeds(user_id);
CREATE UNIQUE INDEX calendar_feeds_business ON calendar_feeds(business_id);
