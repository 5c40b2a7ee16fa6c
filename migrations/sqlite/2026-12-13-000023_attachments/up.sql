-- Files uploaded with a form or a comment. The bytes live under
-- DATA_DIR/attachments by their SHA-256 (one copy however often they
-- are uploaded); a row is one upload: its name, type and who sent it.
-- Until the form is filed it belongs to no ticket and only its uploader
-- may use it; filed, it is the ticket's (a field's, or a comment's).
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    name TEXT NOT NULL,
    uploaded_by INTEGER NOT NULL REFERENCES users(id),
    uploaded_at TIMESTAMP NOT NULL,
    apply_id INTEGER REFERENCES applies(id),
    field_key TEXT
);
CREATE INDEX attachments_apply ON attachments(apply_id);
-- Whether a ticket holds any file: its page reads them only then.
ALTER TABLE applies ADD COLUMN attached BOOLEAN NOT NULL DEFAULT FALSE;
