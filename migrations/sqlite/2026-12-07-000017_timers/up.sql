-- Business calendars: a time zone, working periods per weekday (JSON:
-- seven lists of ["09:00","18:00"], Monday first), holidays and extra
-- working days. Deadlines counted in working hours count in the
-- calendar their process names, or the default one.
CREATE TABLE calendars (
    id INTEGER PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name_en TEXT NOT NULL,
    name_zh TEXT NOT NULL DEFAULT '',
    tz TEXT NOT NULL,
    week TEXT NOT NULL,
    -- JSON list of dates ("2026-10-01").
    holidays TEXT NOT NULL DEFAULT '[]',
    -- JSON map of date to periods, like a weekday's.
    extra TEXT NOT NULL DEFAULT '{}',
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO calendars (code, name_en, name_zh, tz, week, is_default, updated_at)
VALUES ('office', 'Office hours', '工作时间', 'UTC',
        '[[["09:00","18:00"]],[["09:00","18:00"]],[["09:00","18:00"]],[["09:00","18:00"]],[["09:00","18:00"]],[],[]]',
        TRUE, CURRENT_TIMESTAMP);
-- A step's (and a whole ticket's) deadline, and when it was found overdue.
ALTER TABLE approves ADD COLUMN due_at TIMESTAMP;
ALTER TABLE approves ADD COLUMN overdue_at TIMESTAMP;
ALTER TABLE applies ADD COLUMN due_at TIMESTAMP;
ALTER TABLE applies ADD COLUMN overdue_at TIMESTAMP;
-- Everything time-driven that waits: one row per waiting step with a
-- deadline (and one per ticket with a deadline of its own, with no
-- step), due at its next stage (a reminder, the breach, a reminder
-- after it), claimed under a lease so that each fires once across
-- instances; a stage's firing moves the row to the next stage in the
-- transaction of what it did, and a step that closes takes its row away.
CREATE TABLE timers (
    id INTEGER PRIMARY KEY NOT NULL,
    apply_id INTEGER NOT NULL REFERENCES applies(id),
    approve_id INTEGER REFERENCES approves(id),
    -- Reminders before the deadline are stages 0..n-1, the breach n, and
    -- each reminder after it n+1, n+2, ...
    stage INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL,
    -- When the schedule started (the step started, or was handed over).
    since TIMESTAMP NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP
);
CREATE INDEX timers_due ON timers(due_at);
CREATE UNIQUE INDEX timers_step ON timers(approve_id);
CREATE INDEX timers_ticket ON timers(apply_id);
