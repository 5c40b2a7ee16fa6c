-- A request of several events still waiting would be sent as its first
-- event alone after this: give those up first.
UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'pending' AND event_rows IS NOT NULL;
ALTER TABLE webhook_deliveries DROP COLUMN event_rows;
