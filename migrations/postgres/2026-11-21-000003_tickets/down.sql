DROP TABLE serial_counters;
DROP TABLE grants;
DROP TABLE approve_users;
DROP TABLE approves;
DROP TABLE applies;
