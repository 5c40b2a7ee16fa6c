-- The days a change's window touches, as days since 1970-01-01 (UTC):
-- the day it starts and the day of its last moment (a window ending at
-- midnight does not touch the day it ends on). The month view counts
-- each day's changes and picks each day's first few from the index
-- alone, by whole numbers, without reading every window into the
-- application.
ALTER TABLE changes
    ADD COLUMN first_day INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_day INTEGER NOT NULL DEFAULT 0;
UPDATE changes SET
    first_day = starts_at::date - DATE '1970-01-01',
    last_day = GREATEST(starts_at::date, (ends_at - INTERVAL '1 microsecond')::date) - DATE '1970-01-01';
DROP INDEX changes_starts;
-- By day, then start, then ticket: the order every view draws in.
CREATE INDEX changes_days ON changes(long_window, first_day, starts_at, apply_id, last_day, ends_at, emergency);
