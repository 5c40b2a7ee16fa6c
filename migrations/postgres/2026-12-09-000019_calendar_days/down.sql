DROP INDEX changes_days;
ALTER TABLE changes DROP COLUMN last_day, DROP COLUMN first_day;
CREATE INDEX changes_starts ON changes(long_window, starts_at, ends_at, emergency);
