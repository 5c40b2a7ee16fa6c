-- The days a change's window touches, as days since 1970-01-01 (UTC):
-- the day it starts and the day of its last moment (a window ending at
-- midnight does not touch the day it ends on). The month view counts
-- each day's changes and picks each day's first few from the index
-- alone, by whole numbers, without reading every window into the
-- application.
-- A window is long when it is longer than a day (it was a week once):
-- the month view counts a short one on at most the two days it touches.
UPDATE changes SET long_window = (ends_at - starts_at > INTERVAL '1 day');
UPDATE change_items SET long_window = (ends_at - starts_at > INTERVAL '1 day');
ALTER TABLE changes
    ADD COLUMN first_day INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_day INTEGER NOT NULL DEFAULT 0;
UPDATE changes SET
    first_day = starts_at::date - DATE '1970-01-01',
    last_day = GREATEST(starts_at::date, (ends_at - INTERVAL '1 microsecond')::date) - DATE '1970-01-01';
-- Every filing writes both; a row without them would be on no day.
ALTER TABLE changes ALTER COLUMN first_day DROP DEFAULT, ALTER COLUMN last_day DROP DEFAULT;
DROP INDEX changes_starts;
-- By day, then start, then ticket: the order every view draws in.
CREATE INDEX changes_days ON changes(long_window, first_day, starts_at, apply_id, last_day, ends_at, emergency);
