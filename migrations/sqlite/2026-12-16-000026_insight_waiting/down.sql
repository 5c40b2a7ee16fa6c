DROP INDEX approves_waiting;
