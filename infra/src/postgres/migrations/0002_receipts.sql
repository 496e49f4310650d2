-- What commands leave beside their events, written in the same transaction
-- as the events (domain::store::Receipt).
--
-- kept_answers: the answer a caller was given for a command sent with an
-- `Idempotency-Key`, sealed by the server with a key that only a re-send of
-- the same request can derive (the store never holds it in the clear).
-- `position` is the global position of the command's last event; NULL for
-- an answer kept on its own (a command that appended nothing).
-- `kept_at` is microseconds since the Unix epoch.
CREATE TABLE kept_answers (
    principal BYTEA  NOT NULL CHECK (length(principal) = 32),
    key       TEXT   NOT NULL,
    position  BIGINT,
    sealed    BYTEA  NOT NULL,
    kept_at   BIGINT NOT NULL,
    PRIMARY KEY (principal, key)
);

CREATE INDEX kept_answers_by_time ON kept_answers (kept_at);

-- pending_effects: the outbox. Work that must follow a commit (credentials
-- changes), removed once done; what is left after a crash is done at the
-- next start, in `seq` order.
CREATE TABLE pending_effects (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    effect_id UUID   NOT NULL UNIQUE,
    payload   TEXT   NOT NULL
);
