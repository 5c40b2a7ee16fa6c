-- Sign-in throttling counts attempts per window and key: a username from
-- one address ("a:<username>|<address>") and a username from anywhere
-- ("u:<username>"). An attempt is counted before its password is checked.
DROP TABLE sign_in_failures;
CREATE TABLE sign_in_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    window_start TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL
);
CREATE INDEX sign_in_throttle_window ON sign_in_throttle(window_start);
