-- Change dashboards. A day's figures are rolled up once that day is over
-- (UTC), by whichever job runner inserts the day's row first: a day's
-- row and its figures are written in one transaction, so every day is
-- counted once. A figure belongs to the day a ticket was filed
-- ("filed") or ended (everything else: its outcome, lead time, steps,
-- approvers and breaches), and ended tickets never change again.
CREATE TABLE insight_days (
    day INTEGER PRIMARY KEY,
    rolled_at TIMESTAMP NOT NULL
);
CREATE TABLE insight_figures (
    -- Days since 1970-01-01.
    day INTEGER NOT NULL,
    -- 0: the ticket names no business.
    business_id INTEGER NOT NULL,
    service_id INTEGER NOT NULL,
    -- filed, finished, rejected, withdrawn, qc_successful, qc_with_issues,
    -- qc_unsuccessful, lead, node, person, breach.
    figure TEXT NOT NULL,
    -- A step's key (node) or a person's id (person); empty otherwise.
    subject TEXT NOT NULL,
    label_en TEXT NOT NULL,
    label_zh TEXT NOT NULL,
    n BIGINT NOT NULL,
    -- Durations in fixed log-scale buckets, "bucket:count,…" (lead, node, person).
    hist TEXT NOT NULL,
    PRIMARY KEY (day, business_id, service_id, figure, subject)
);
-- Tickets by the moment they ended: a day's rollup reads that day's.
CREATE INDEX applies_finished ON applies(finished_at);
