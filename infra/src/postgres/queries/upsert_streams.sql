-- The new version and last hash of every stream a batch appends to.
INSERT INTO streams (stream_id, version, last_hash)
SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BYTEA[])
ON CONFLICT (stream_id) DO UPDATE
    SET version = excluded.version, last_hash = excluded.last_hash
