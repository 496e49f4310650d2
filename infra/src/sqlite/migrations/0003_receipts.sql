-- What commands leave beside their events, written in the same transaction
-- as the events (domain::store::Receipt).
--
-- kept_answers: the answer a caller was given for a command sent with an
-- `Idempotency-Key`, sealed by the server with a key that only a re-send of
-- the same request can derive (the store never holds it in the clear).
-- `position` is the global position of the command's last event; NULL for
-- an answer kept on its own (a command that appended nothing).
-- `kept_at` is microseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS kept_answers (
    principal BLOB    NOT NULL CHECK (length(principal) = 32),
    key       TEXT    NOT NULL,
    position  INTEGER,
    sealed    BLOB    NOT NULL,
    kept_at   INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS kept_answers_by_time ON kept_answers (kept_at);

-- pending_effects: the outbox. Work that must follow a commit (credentials
-- changes), removed once done; what is left after a crash is done at the
-- next start, in `seq` order.
CREATE TABLE IF NOT EXISTS pending_effects (
    seq       INTEGER PRIMARY KEY,
    effect_id BLOB    NOT NULL UNIQUE CHECK (length(effect_id) = 16),
    payload   TEXT    NOT NULL
) STRICT;
