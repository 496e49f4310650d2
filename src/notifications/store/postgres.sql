-- The tables of `0001_notifications.sql`, in the log's PostgreSQL schema:
-- every server on the database sees the same secrets, cursors and log.
CREATE TABLE IF NOT EXISTS notification_secrets (
    target_id      TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    url            TEXT NOT NULL,
    signing_secret TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS notification_cursors (
    target_id       TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    position        BIGINT NOT NULL,
    failures        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    paused          TEXT
);

CREATE TABLE IF NOT EXISTS notification_deliveries (
    id          BIGSERIAL PRIMARY KEY,
    target_id   TEXT NOT NULL,
    position    BIGINT NOT NULL,
    attempt     BIGINT NOT NULL,
    at          TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    http_status BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS notification_deliveries_by_target
    ON notification_deliveries (target_id, id);
