DROP TABLE timers;
ALTER TABLE applies DROP COLUMN overdue_at;
ALTER TABLE applies DROP COLUMN due_at;
ALTER TABLE approves DROP COLUMN overdue_at;
ALTER TABLE approves DROP COLUMN due_at;
DROP TABLE calendars;
