-- Each organization's bucket keys, sealed (AES-256-GCM, `streaming.key`):
-- the PostgreSQL twin of 0001_streaming_credentials.sql.
CREATE TABLE IF NOT EXISTS streaming_credentials (
    org_id            TEXT PRIMARY KEY,
    access_key_id     TEXT NOT NULL,
    secret_access_key TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
