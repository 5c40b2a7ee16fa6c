ALTER TABLE approve_users DROP COLUMN email_token_to;
