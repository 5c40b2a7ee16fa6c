-- Each ticket event some endpoint wants, written once in the event's
-- transaction with the body it is sent with: the stream every endpoint
-- reads in order from where it got to (`webhooks.read_tx`,
-- `read_through`). Transactions commit in any order here, so an event
-- carries its transaction's id (`tx`) and the stream is read in
-- (tx, id) order only below the oldest transaction still running: an
-- event that commits late is never passed over.
CREATE TABLE webhook_events (
    id SERIAL PRIMARY KEY,
    tx BIGINT NOT NULL DEFAULT txid_current(),
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    apply_id INTEGER,
    service_id INTEGER,
    business_id INTEGER,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_events_stream ON webhook_events(tx, id);
-- Where each endpoint got to in the stream, who reads it for the moment
-- (a lease: one instance at a time), and whether it takes its events
-- several to a request.
ALTER TABLE webhooks ADD COLUMN batch BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE webhooks ADD COLUMN read_tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN read_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN claimed_by TEXT;
ALTER TABLE webhooks ADD COLUMN claimed_until TIMESTAMP;
-- A delivery is now the log of an attempt made from the stream (its body
-- is its event's) or a test ping's (its body its own), and the queue of
-- those to try again.
ALTER TABLE webhook_deliveries ADD COLUMN event_row INTEGER;
-- Most deliveries are logged as delivered and never looked for again:
-- only those waiting are indexed by when they are due.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
