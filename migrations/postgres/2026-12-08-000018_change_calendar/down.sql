DROP TABLE calendar_feeds;
DROP TABLE silences;
DROP TABLE freezes;
ALTER TABLE applies DROP COLUMN extra_nodes;
DROP TABLE change_items;
DROP TABLE changes;
