-- A page of the whole log in global order. $1 first global_position, $2 page size.
SELECT global_position, stream_id, stream_version, event_id, event_type, schema_version,
       data, metadata, recorded_at, prev_hash, hash
FROM events
WHERE global_position >= $1
ORDER BY global_position
LIMIT $2
