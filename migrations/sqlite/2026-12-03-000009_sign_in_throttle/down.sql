DROP TABLE sign_in_throttle;
CREATE TABLE sign_in_failures (
    id INTEGER PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_failures_username ON sign_in_failures(username, at);
