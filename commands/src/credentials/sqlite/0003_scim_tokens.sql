-- The organization's SCIM token joins the kinds of tokens. SQLite cannot
-- change a CHECK constraint: the table is rebuilt with the new one, its
-- rows copied as they are.
CREATE TABLE tokens_new (
    token_hash  BLOB PRIMARY KEY,
    token_id    BLOB NOT NULL UNIQUE,
    user_id     BLOB NOT NULL,
    org_id      BLOB NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('session', 'api', 'service_account', 'scim')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER                    -- micros since the epoch; NULL: never
) WITHOUT ROWID;
INSERT INTO tokens_new SELECT token_hash, token_id, user_id, org_id, kind, created_at, expires_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_by_user ON tokens (user_id);
