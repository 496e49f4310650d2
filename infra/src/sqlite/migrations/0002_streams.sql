-- One row per stream that has events: its current version (that of its last
-- event) and the hash of its last event, where the next event's chain link
-- starts. Written in the same transaction as the events.
CREATE TABLE IF NOT EXISTS streams (
    stream_id TEXT    PRIMARY KEY,
    version   INTEGER NOT NULL CHECK (version >= 1),
    last_hash BLOB    NOT NULL CHECK (length(last_hash) = 32)
) STRICT, WITHOUT ROWID;
