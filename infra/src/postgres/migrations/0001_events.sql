-- Every event of every stream, in commit order.
--
-- `global_position` is assigned by the append itself, one above the largest
-- stored, while it holds the schema's append lock (see `append.rs`): so
-- positions are gap-free and commit in increasing order, and a reader of
-- `read_all` never misses an event that commits later with a lower
-- position.
--
-- `data` and `metadata` are TEXT, not JSONB: the store keeps the exact
-- bytes it hashed. `recorded_at` is microseconds since the Unix epoch,
-- exactly what the hash chain hashes; `prev_hash`/`hash` are the
-- per-stream SHA-256 chain.
CREATE TABLE events (
    global_position BIGINT  PRIMARY KEY,
    stream_id       TEXT    NOT NULL,
    stream_version  BIGINT  NOT NULL CHECK (stream_version >= 1),
    event_id        UUID    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    schema_version  BIGINT  NOT NULL,
    data            TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    recorded_at     BIGINT  NOT NULL,
    prev_hash       BYTEA   NOT NULL CHECK (length(prev_hash) = 32),
    hash            BYTEA   NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_id, stream_version)
);

-- One row per stream that has events: its current version (that of its
-- last event) and the hash of its last event, where the next event's chain
-- link starts. Written in the same transaction as the events.
CREATE TABLE streams (
    stream_id TEXT   PRIMARY KEY,
    version   BIGINT NOT NULL CHECK (version >= 1),
    last_hash BYTEA  NOT NULL CHECK (length(last_hash) = 32)
);
