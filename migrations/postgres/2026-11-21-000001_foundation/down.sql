DROP TABLE sign_in_failures;
DROP TABLE audit_events;
DROP TABLE delegations;
DROP TABLE role_assignments;
DROP TABLE roles;
DROP TABLE businesses;
DROP TABLE users;
