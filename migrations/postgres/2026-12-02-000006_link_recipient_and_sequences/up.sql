-- Whom a one-click link was mailed to: the assignee, or whoever stood in
-- for them when the mail was written. A decision through the link is
-- recorded as that person ("B for A"), and only while they still may act.
ALTER TABLE approve_users ADD COLUMN email_token_to INTEGER REFERENCES users(id);

-- A sequence now asks one person at a time. On sequences under way, the
-- people after the first one still to decide wait for their turn again;
-- the links they were mailed no longer act (they get a new mail when
-- their turn comes).
UPDATE approve_users SET status = 'waiting', email_token_hash = NULL
WHERE status = 'pending'
  AND approve_id IN (
    SELECT id FROM approves WHERE status = 'active' AND mode = '{"mode":"sequence"}'
  )
  AND position > (
    SELECT MIN(p.position) FROM approve_users p
    WHERE p.approve_id = approve_users.approve_id AND p.status = 'pending'
  );
