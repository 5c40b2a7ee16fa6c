-- Delegations in effect at a moment are found through their end: planning
-- a ticket reads them all at once instead of one person at a time.
CREATE INDEX delegations_ends ON delegations(ends_at);
