DROP INDEX approve_users_inbox;
CREATE INDEX approve_users_inbox ON approve_users(user_id, status, apply_id);
