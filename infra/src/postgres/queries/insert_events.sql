-- The planned events of a batch, one array per column (one statement
-- however many events).
INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type,
                    schema_version, data, metadata, recorded_at, prev_hash, hash)
SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::UUID[], $5::TEXT[],
                     $6::BIGINT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::BYTEA[],
                     $11::BYTEA[])
