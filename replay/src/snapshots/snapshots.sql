-- Periodic snapshots of organizations' states, for `replay state`
-- (replay/src/asof.rs). One row per (stream, version): the state after
-- folding the stream's events 1..version.
--
-- position and hash are those of the event at that version: a snapshot is
-- used only while that event still has that hash (the chain vouches for
-- every event before it), and is discarded otherwise.
-- max_occurred_at is the latest occurred_at (microseconds since the Unix
-- epoch) among events 1..version: the snapshot serves any moment at or
-- after it.
-- format names the encoding and shape of `state`: rows of another format
-- (written by another build) are ignored and replaced.
CREATE TABLE IF NOT EXISTS snapshots (
    stream_id        TEXT    NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    position         INTEGER NOT NULL,
    hash             BLOB    NOT NULL CHECK (length(hash) = 32),
    max_occurred_at  INTEGER NOT NULL,
    format           INTEGER NOT NULL,
    state            BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (stream_id, version)
) STRICT;
