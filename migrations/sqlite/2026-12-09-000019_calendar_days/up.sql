-- The days a change's window touches, as days since 1970-01-01 (UTC):
-- the day it starts and the day of its last moment (a window ending at
-- midnight does not touch the day it ends on). The month view counts
-- each day's changes and picks each day's first few from the index
-- alone, by whole numbers, without reading every window into the
-- application.
-- A window is long when it is longer than a day (it was a week once):
-- the month view counts a short one on at most the two days it touches.
UPDATE changes SET long_window = (strftime('%s', ends_at) - strftime('%s', starts_at) > 86400);
UPDATE change_items SET long_window = (strftime('%s', ends_at) - strftime('%s', starts_at) > 86400);
ALTER TABLE changes ADD COLUMN first_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE changes ADD COLUMN last_day INTEGER NOT NULL DEFAULT 0;
UPDATE changes SET
    first_day = CAST(julianday(date(starts_at)) - 2440587.5 AS INTEGER),
    last_day = max(
        CAST(julianday(date(starts_at)) - 2440587.5 AS INTEGER),
        CAST(julianday(date(ends_at, '-0.001 seconds')) - 2440587.5 AS INTEGER)
    );
DROP INDEX changes_starts;
-- By day, then start, then ticket: the order every view draws in.
CREATE INDEX changes_days ON changes(long_window, first_day, starts_at, apply_id, last_day, ends_at, emergency);
