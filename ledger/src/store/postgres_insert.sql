-- One statement per batch: parallel arrays, one element per event. $11 is
-- the batch's recorded_at, stamped after the append lock was taken.
INSERT INTO event (event_id, stream_id, stream_version, event_type, schema_version,
                   org_id, payload, metadata, occurred_at, idempotency_key, recorded_at)
SELECT u.*, $11::timestamptz
  FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::text[], $5::int4[],
              $6::text[], $7::jsonb[], $8::jsonb[], $9::timestamptz[], $10::text[]) AS u
RETURNING event_id, global_position
