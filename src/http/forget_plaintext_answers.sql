-- Before answers were sealed and kept with the events, they were kept in
-- the clear in the read-model database (secrets included). Drop that
-- table, overwriting its pages (secure_delete), at every start.
PRAGMA secure_delete = ON;
DROP TABLE IF EXISTS idempotency_keys;
