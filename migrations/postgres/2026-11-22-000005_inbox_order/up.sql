-- The inbox lists a person's pending assignments newest first, a page at a
-- time. Ordered by id inside (user, status), the index hands over the
-- first page without sorting, and without reading the rest of the inbox.
DROP INDEX approve_users_inbox;
CREATE INDEX approve_users_inbox ON approve_users(user_id, status, id);
