-- Sessions, API tokens and service-account tokens, stored only as SHA-256
-- hashes of the bearer secret.
CREATE TABLE IF NOT EXISTS tokens (
    token_hash  BLOB PRIMARY KEY,
    token_id    BLOB NOT NULL UNIQUE,
    user_id     BLOB NOT NULL,
    org_id      BLOB NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('session', 'api', 'service_account')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER                    -- micros since the epoch; NULL: never
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens (user_id);
