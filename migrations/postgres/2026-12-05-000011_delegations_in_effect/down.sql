DROP INDEX delegations_ends;
