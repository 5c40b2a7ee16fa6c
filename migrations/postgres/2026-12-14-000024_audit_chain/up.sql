-- The audit trail, hash-chained. Each ticket's events form one chain
-- (`chain` = the ticket's id; events about no ticket form chain 0): an
-- event's `seq` is its place in its chain, and its `hash` the SHA-256 of
-- the hash before it (`prev_hash`) and its own fields, so an event edited,
-- removed or inserted in the database breaks its chain where it happened
-- (`countersign audit verify`). Where a chain ends is kept apart from the
-- events, on the ticket (`applies.audit_seq`, `audit_hash`) and for chain
-- 0 in `audit_heads`, so removing or adding events at a chain's end is
-- caught too. Events recorded before this migration (up to
-- `audit_heads.legacy_until`) stay outside the chains.
ALTER TABLE audit_events ADD COLUMN chain INTEGER;
ALTER TABLE audit_events ADD COLUMN seq INTEGER;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_events_chain ON audit_events(chain, seq);
ALTER TABLE applies ADD COLUMN audit_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applies ADD COLUMN audit_hash TEXT;
CREATE TABLE audit_heads (
    chain INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT,
    legacy_until INTEGER NOT NULL
);
INSERT INTO audit_heads (chain, seq, hash, legacy_until)
SELECT 0, 0, NULL, COALESCE(MAX(id), 0) FROM audit_events;
