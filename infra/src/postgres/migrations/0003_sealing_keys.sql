-- Which sealing keys the rolebook processes on this database use, by
-- fingerprint (a SHA-256 of the key, never the key): every process must
-- seal with the same key files (postgres/sealing_keys.rs).
CREATE TABLE IF NOT EXISTS sealing_keys (
    name         TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL
);
