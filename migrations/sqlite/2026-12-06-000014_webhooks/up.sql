-- Endpoints an administrator registers to be told of ticket events: a
-- plain signed webhook, or a team chat's robot (slack, feishu, dingtalk,
-- wecom) in its own message format and language. The secret signs each
-- delivery, so it is kept (not only hashed). Empty lists mean every event
-- type, service or business.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    events TEXT NOT NULL,
    services TEXT NOT NULL,
    businesses TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by INTEGER REFERENCES users(id)
);
-- One event for one endpoint, written in the event's transaction; claimed
-- by one instance at a time (a lease), retried with backoff, its last
-- attempt's answer kept for the delivery log.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY NOT NULL,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id),
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    apply_id INTEGER,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    response_code INTEGER,
    latency_ms INTEGER,
    error TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(webhook_id, id);
