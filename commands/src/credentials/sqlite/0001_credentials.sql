-- Password hashes, one row per user. Mutable, outside the event log: the log
-- only records that a password was set or reset.
CREATE TABLE IF NOT EXISTS credentials (
    user_id        BLOB PRIMARY KEY,
    org_id         BLOB NOT NULL,
    password_hash  TEXT NOT NULL,          -- argon2id, PHC string
    must_change    INTEGER NOT NULL,       -- 1: temporary, change at first login
    updated_at     INTEGER NOT NULL        -- micros since the epoch
) WITHOUT ROWID;
