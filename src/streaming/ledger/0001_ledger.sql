-- The days exported to each target, and the record of each streaming run.
CREATE TABLE IF NOT EXISTS audit_stream_days (
    org_id         TEXT    NOT NULL,
    target         TEXT    NOT NULL,
    day            TEXT    NOT NULL,
    rows           INTEGER NOT NULL,
    last_position  INTEGER NOT NULL,
    parquet_sha256 TEXT    NOT NULL,
    exported_at    TEXT    NOT NULL,
    PRIMARY KEY (org_id, target, day)
) STRICT;
CREATE TABLE IF NOT EXISTS audit_stream_runs (
    id          INTEGER PRIMARY KEY,
    org_id      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT    NOT NULL,
    days        INTEGER NOT NULL,
    objects     INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    error       TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS audit_stream_runs_by_org ON audit_stream_runs (org_id, id);
