ALTER TABLE applies DROP COLUMN copied;
DROP TABLE copies;
