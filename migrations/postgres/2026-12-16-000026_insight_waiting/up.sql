-- The steps waiting now, oldest first: the dashboards' "waiting longest"
-- table walks this instead of every running ticket, and the overdue
-- count (/metrics) and list (/admin/overdue) read the active steps here.
CREATE INDEX approves_waiting ON approves(started_at, id) WHERE status = 'active';
-- Approvers' response times no longer count the applicant's own filing
-- step or steps countersign approved for someone: the days rolled up
-- before are rolled up again, by the job runner, from the tickets.
DELETE FROM insight_figures;
DELETE FROM insight_days;
