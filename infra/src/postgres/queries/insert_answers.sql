-- The answers a batch's commands keep, at their last event's position; an
-- idempotent retry's are already there.
INSERT INTO kept_answers (principal, key, position, sealed, kept_at)
SELECT principal, key, position, sealed, $5
FROM UNNEST($1::BYTEA[], $2::TEXT[], $3::BIGINT[], $4::BYTEA[]) AS a (principal, key, position, sealed)
ON CONFLICT (principal, key) DO NOTHING
