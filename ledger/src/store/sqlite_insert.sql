-- One statement per batch: ?1 is a JSON array of row objects. `payload`
-- and `metadata` are nested objects; json_extract returns them as
-- (minified) JSON text.
INSERT INTO event (event_id, stream_id, stream_version, event_type, schema_version,
                   org_id, payload, metadata, occurred_at, recorded_at, idempotency_key)
SELECT json_extract(r.value, '$.event_id'),
       json_extract(r.value, '$.stream_id'),
       json_extract(r.value, '$.stream_version'),
       json_extract(r.value, '$.event_type'),
       json_extract(r.value, '$.schema_version'),
       json_extract(r.value, '$.org_id'),
       json_extract(r.value, '$.payload'),
       json_extract(r.value, '$.metadata'),
       json_extract(r.value, '$.occurred_at'),
       json_extract(r.value, '$.recorded_at'),
       json_extract(r.value, '$.idempotency_key')
  FROM json_each(?1) AS r
 ORDER BY r.key
RETURNING event_id, global_position
