-- A process's name in Chinese beside its English one, for lists read in
-- Chinese (the draft holds both; lists should not parse every draft).
ALTER TABLE processes ADD COLUMN name_zh TEXT NOT NULL DEFAULT '';
UPDATE processes SET name_zh = COALESCE(draft::json -> 'name' ->> 'zh', '');
