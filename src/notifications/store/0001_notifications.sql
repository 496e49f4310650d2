-- Each notification target's URL and signing secret, sealed (AES-256-GCM,
-- the server's `streaming.key`): never in the event log.
CREATE TABLE IF NOT EXISTS notification_secrets (
    target_id      TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    url            TEXT NOT NULL,
    signing_secret TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

-- Where each target's delivery stands: the last position delivered (or
-- passed over by its rules), the failures in a row since, when to try
-- again (Unix milliseconds), and why it is paused (NULL: running).
CREATE TABLE IF NOT EXISTS notification_cursors (
    target_id       TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    position        INTEGER NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    paused          TEXT
) STRICT;

-- Every attempt, delivered or not, and every test send (position 0).
CREATE TABLE IF NOT EXISTS notification_deliveries (
    id          INTEGER PRIMARY KEY,
    target_id   TEXT NOT NULL,
    position    INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    http_status INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS notification_deliveries_by_target
    ON notification_deliveries (target_id, id);
