-- Whom a one-click link was mailed to: the assignee, or whoever stood in
-- for them when the mail was written. A decision through the link is
-- recorded as that person ("B for A"), and only while they still may act.
ALTER TABLE approve_users ADD COLUMN email_token_to INTEGER REFERENCES users(id);
