-- A page of one stream in version order. $1 stream, $2 first version, $3 page size.
SELECT global_position, stream_id, stream_version, event_id, event_type, schema_version,
       data, metadata, recorded_at, prev_hash, hash
FROM events
WHERE stream_id = $1 AND stream_version >= $2
ORDER BY stream_version
LIMIT $3
