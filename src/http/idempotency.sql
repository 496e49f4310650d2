-- First answers of commands sent with an Idempotency-Key, kept 24 hours.
-- principal: SHA-256 of the Authorization header (a key is private to its
-- caller); request_hash: SHA-256 of method, path, query and body.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal     BLOB NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    status        INTEGER NOT NULL,
    position      TEXT,
    content_type  TEXT,
    body          BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
) STRICT, WITHOUT ROWID;
