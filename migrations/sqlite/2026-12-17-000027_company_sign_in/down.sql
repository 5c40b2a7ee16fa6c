DROP TABLE settings;
DROP TABLE directory_syncs;
DROP TABLE group_roles;
DROP INDEX users_external_dn;
ALTER TABLE users DROP COLUMN external_dn;
DROP INDEX users_external;
ALTER TABLE role_assignments DROP COLUMN from_group;
ALTER TABLE users DROP COLUMN external_id;
ALTER TABLE users DROP COLUMN origin;
