ALTER TABLE approves DROP COLUMN sent_back_from;
ALTER TABLE approve_users DROP COLUMN send_back_to;
