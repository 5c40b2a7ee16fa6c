ALTER TABLE processes DROP COLUMN name_zh;
