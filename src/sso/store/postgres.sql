-- The tables of `0001_sso.sql`, in the log's PostgreSQL schema: a sign-in
-- started on one server finishes on any other.
CREATE TABLE IF NOT EXISTS sso_client_secrets (
    org_id        TEXT PRIMARY KEY,
    client_secret TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS sso_pending_logins (
    state_hash    TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    verifier      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
