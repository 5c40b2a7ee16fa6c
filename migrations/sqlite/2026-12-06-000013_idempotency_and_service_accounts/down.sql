ALTER TABLE users DROP COLUMN service_account;
DROP TABLE idempotency_keys;
