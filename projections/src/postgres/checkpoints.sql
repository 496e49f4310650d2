-- Each PostgreSQL read model's position in the log: the last event whose
-- rows are written. Updated in the same transaction as the rows; the row is
-- locked by each writer first (postgres/runner.rs), so that several rolebook
-- processes following one log write each event's rows once, in order.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name      TEXT   PRIMARY KEY,
    position  BIGINT NOT NULL
);
