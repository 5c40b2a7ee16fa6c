-- Deliveries logged from the stream carry no body of their own: after
-- this, one still waiting would be sent empty. Give them up first.
UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'pending' AND payload = '';
DROP INDEX webhook_deliveries_waiting;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
ALTER TABLE webhook_deliveries DROP COLUMN event_row;
ALTER TABLE webhooks DROP COLUMN claimed_until;
ALTER TABLE webhooks DROP COLUMN claimed_by;
ALTER TABLE webhooks DROP COLUMN read_through;
ALTER TABLE webhooks DROP COLUMN read_tx;
ALTER TABLE webhooks DROP COLUMN batch;
DROP TABLE webhook_events;
