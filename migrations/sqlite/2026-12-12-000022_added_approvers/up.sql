-- Approvers added by hand to a waiting approval (加签): whom a person
-- was added for, and where they stand — before them (they decide
-- first), after them (the step then needs them too) or alongside them
-- (one more seat of the step).
ALTER TABLE approve_users ADD COLUMN added_for INTEGER REFERENCES approve_users(id);
ALTER TABLE approve_users ADD COLUMN placement TEXT;
