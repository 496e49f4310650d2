-- Each organization's OpenID Connect client secret, sealed (AES-256-GCM,
-- the server's `streaming.key`): never in the event log.
CREATE TABLE IF NOT EXISTS sso_client_secrets (
    org_id        TEXT PRIMARY KEY,
    client_secret TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

-- Sign-ins started and not finished: the SHA-256 of their `state`, their
-- PKCE verifier (sealed) and nonce. Taken (deleted) by the callback, so a
-- state is good once; older than ten minutes, refused and purged.
CREATE TABLE IF NOT EXISTS sso_pending_logins (
    state_hash    TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    verifier      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;
