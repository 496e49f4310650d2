-- The audit-log view: one row per organization event (audit/projection.rs
-- writes it, audit/query.rs and audit/csv.rs read it).
--
-- org_id and actor_id are the UUIDs' 16 bytes; occurred_at is microseconds
-- since the Unix epoch (UTC); metadata is JSON text. actor_key and
-- resource_key are integer hashes of what the actor and resource filters
-- match (audit/keys.rs: integer-led keys sort twice as fast when a bulk
-- catch-up builds those two indexes); queries check the real columns too.
--
-- position (the event's global position: one event, one organization) is
-- the rowid, so rows are appended in log order and every index ends with
-- it implicitly: each filter reads its rows newest first (or oldest first
-- for the export) straight from its index, with keyset paging on position
-- (`rowid < ?` in the index).
CREATE TABLE IF NOT EXISTS audit_log (
    org_id          BLOB    NOT NULL,
    position        INTEGER PRIMARY KEY,
    occurred_at     INTEGER NOT NULL,
    actor_id        BLOB,
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
    actor_key       INTEGER,
    resource_key    INTEGER NOT NULL
) STRICT;

-- The unfiltered listing: (org, position).
CREATE INDEX IF NOT EXISTS audit_by_org
    ON audit_log (org_id);

-- actor_key covers the organization; the system's entries (no actor)
-- are left out.
CREATE INDEX IF NOT EXISTS audit_by_actor
    ON audit_log (actor_key) WHERE actor_key IS NOT NULL;
-- org_id after the key: a filter by type alone (a range of resource_key)
-- checks the organization from the index.
CREATE INDEX IF NOT EXISTS audit_by_resource
    ON audit_log (resource_key, org_id);
CREATE INDEX IF NOT EXISTS audit_by_operation
    ON audit_log (org_id, operation);
CREATE INDEX IF NOT EXISTS audit_by_time
    ON audit_log (org_id, occurred_at);
