-- Password hashes, one row per user. Mutable, outside the event log: the
-- log only records that a password was set or reset.
CREATE TABLE credentials (
    user_id        UUID    PRIMARY KEY,
    org_id         UUID    NOT NULL,
    password_hash  TEXT    NOT NULL,          -- argon2id, PHC string
    must_change    BOOLEAN NOT NULL,          -- temporary: change at first login
    updated_at     BIGINT  NOT NULL           -- micros since the epoch
);

-- Sessions, API tokens and service-account tokens, stored only as SHA-256
-- hashes of the bearer secret.
CREATE TABLE tokens (
    token_hash  BYTEA  PRIMARY KEY,
    token_id    UUID   NOT NULL UNIQUE,
    user_id     UUID   NOT NULL,
    org_id      UUID   NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('session', 'api', 'service_account')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT                        -- micros since the epoch; NULL: never
);

CREATE INDEX tokens_by_user ON tokens (user_id);
