ALTER TABLE users DROP COLUMN last_language;
