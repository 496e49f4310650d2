-- The audit-log view in PostgreSQL: one row per organization event
-- (postgres/audit.rs writes and reads it). The same columns as the embedded
-- view (audit/audit_log.sql); occurred_at is microseconds since the Unix
-- epoch (UTC), metadata the entry's JSON as text (its keys in the event's
-- order, as the CSV export writes it). actor_key and resource_key are
-- audit/keys.rs's hashes, kept so that both views hold the same rows.
CREATE TABLE IF NOT EXISTS audit_log (
    position        BIGINT  PRIMARY KEY,
    org_id          UUID    NOT NULL,
    occurred_at     BIGINT  NOT NULL,
    actor_id        UUID,
    actor_username  TEXT    NOT NULL,
    resource_type   TEXT    NOT NULL,
    operation       TEXT    NOT NULL,
    resource_id     TEXT    NOT NULL,
    resource_name   TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    medium          TEXT    NOT NULL,
    ip              TEXT,
    user_agent      TEXT,
    request_id      TEXT,
    metadata        TEXT    NOT NULL,
    actor_key       BIGINT,
    resource_key    BIGINT  NOT NULL
);

-- Each filter's index ends with position, so pages come out newest first
-- straight from it (keyset paging on position).
CREATE INDEX IF NOT EXISTS audit_by_org ON audit_log (org_id, position);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_log (org_id, actor_id, position)
    WHERE actor_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_resource
    ON audit_log (org_id, resource_type, resource_id, position);
CREATE INDEX IF NOT EXISTS audit_by_resource_id ON audit_log (org_id, resource_id, position);
CREATE INDEX IF NOT EXISTS audit_by_operation ON audit_log (org_id, operation, position);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_log (org_id, occurred_at);
