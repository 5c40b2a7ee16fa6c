-- People a ticket is copied to (抄送): told when a step or the ticket
-- finishes, or by hand by its applicant or one of its people, with a
-- note. They may read the ticket and decide nothing. One row per
-- ticket and person: being told again makes it unread again; the
-- timeline keeps each time.
CREATE TABLE copies (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    apply_id INTEGER NOT NULL REFERENCES applies(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    -- Who copied them by hand, last; none when the process did.
    added_by INTEGER REFERENCES users(id),
    -- The step whose end told them, last; none for the whole ticket or by hand.
    node_key TEXT,
    note TEXT NOT NULL DEFAULT '',
    told_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP,
    UNIQUE (apply_id, user_id)
);
-- "Copied to me", newest first.
CREATE INDEX copies_user ON copies(user_id, told_at);
-- Whether a ticket was ever copied to anyone: its page and who may see
-- it read its copies only then.
ALTER TABLE applies ADD COLUMN copied BOOLEAN NOT NULL DEFAULT FALSE;
