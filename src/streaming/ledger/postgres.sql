-- The days exported to each target, and the record of each streaming run:
-- the PostgreSQL twin of 0001_ledger.sql.
CREATE TABLE IF NOT EXISTS audit_stream_days (
    org_id         TEXT   NOT NULL,
    target         TEXT   NOT NULL,
    day            TEXT   NOT NULL,
    rows           BIGINT NOT NULL,
    last_position  BIGINT NOT NULL,
    parquet_sha256 TEXT   NOT NULL,
    exported_at    TEXT   NOT NULL,
    PRIMARY KEY (org_id, target, day)
);
CREATE TABLE IF NOT EXISTS audit_stream_runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    started_at  TEXT   NOT NULL,
    finished_at TEXT   NOT NULL,
    days        BIGINT NOT NULL,
    objects     BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS audit_stream_runs_by_org ON audit_stream_runs (org_id, id);
