ALTER TABLE approve_users DROP COLUMN placement;
ALTER TABLE approve_users DROP COLUMN added_for;
