ALTER TABLE applies DROP COLUMN attached;
DROP TABLE attachments;
