-- An answer kept on its own (a command that appended nothing): an expired
-- answer under the same key gives way to it. $1 principal, $2 key,
-- $3 sealed, $4 now, $5 the oldest kept_at still in force.
INSERT INTO kept_answers (principal, key, position, sealed, kept_at)
VALUES ($1, $2, NULL, $3, $4)
ON CONFLICT (principal, key) DO UPDATE
    SET position = NULL, sealed = excluded.sealed, kept_at = excluded.kept_at
    WHERE kept_answers.kept_at < $5
