-- Where each projection stands: the global position of the last event it
-- applied. Written in the same transaction as the projection's rows.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name      TEXT PRIMARY KEY,
    position  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
