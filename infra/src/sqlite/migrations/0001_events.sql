-- Every event of every stream, in commit order.
--
-- `global_position` is the rowid: the store assigns it itself, one above the
-- largest stored, inside the write transaction, so positions are gap-free and
-- commit in increasing order (a reader never misses an event that commits
-- later with a lower position).
--
-- `recorded_at` is microseconds since the Unix epoch, exactly what the hash
-- chain hashes; `prev_hash`/`hash` are the per-stream SHA-256 chain.
CREATE TABLE IF NOT EXISTS events (
    global_position INTEGER PRIMARY KEY,
    stream_id       TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL CHECK (stream_version >= 1),
    event_id        BLOB    NOT NULL UNIQUE CHECK (length(event_id) = 16),
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    data            TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    recorded_at     INTEGER NOT NULL,
    prev_hash       BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    UNIQUE (stream_id, stream_version)
) STRICT;
