-- Every session carries the generation of its person's sessions it was
-- signed in at. Signing out, a password change or reset, deactivation and
-- "sign out of all other sessions" bump it, and every earlier session ends
-- at once.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
