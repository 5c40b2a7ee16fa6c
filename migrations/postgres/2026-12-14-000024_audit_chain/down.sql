DROP TABLE audit_heads;
ALTER TABLE applies DROP COLUMN audit_hash;
ALTER TABLE applies DROP COLUMN audit_seq;
DROP INDEX audit_events_chain;
ALTER TABLE audit_events DROP COLUMN hash;
ALTER TABLE audit_events DROP COLUMN prev_hash;
ALTER TABLE audit_events DROP COLUMN seq;
ALTER TABLE audit_events DROP COLUMN chain;
