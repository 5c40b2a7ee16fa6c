-- The language a person last used countersign in (their browser's, at
-- sign-in), for mail to people who never chose one.
ALTER TABLE users ADD COLUMN last_language TEXT;
