-- Sending a ticket back to an earlier step, not only to its applicant:
-- the vote names the step (approve_users.send_back_to, a node key), and
-- the step's new row, appended after the rest like a resubmitted
-- round's, names the step that sent it back (approves.sent_back_from).
-- The rows before it are kept as they were: history.
ALTER TABLE approve_users ADD COLUMN send_back_to TEXT;
ALTER TABLE approves ADD COLUMN sent_back_from TEXT;
