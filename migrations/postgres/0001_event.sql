-- The event store: every fact the ledger knows, append-only.
CREATE TABLE event (
    global_position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        UUID        NOT NULL,
    stream_id       TEXT        NOT NULL,
    stream_version  BIGINT      NOT NULL CHECK (stream_version >= 1),
    event_type      TEXT        NOT NULL CHECK (event_type <> ''),
    schema_version  INTEGER     NOT NULL CHECK (schema_version >= 1),
    org_id          TEXT,
    payload         JSONB       NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    metadata        JSONB       NOT NULL DEFAULT '{}',
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    idempotency_key TEXT CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    CONSTRAINT event_event_id_key UNIQUE (event_id),
    CONSTRAINT event_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT event_idempotency_key_key UNIQUE (idempotency_key)
);

COMMENT ON TABLE event IS 'Append-only log of ledger facts; UPDATE, DELETE and TRUNCATE are refused by triggers.';
COMMENT ON COLUMN event.global_position IS 'Total order; becomes visible in increasing order (appends serialise on an advisory lock). Not gapless.';
COMMENT ON COLUMN event.event_id IS 'UUID v7 chosen by the writer.';
COMMENT ON COLUMN event.stream_id IS 'The stream (org-…, usage-…, invoice-…, catalog) this event belongs to.';
COMMENT ON COLUMN event.stream_version IS 'Position within the stream, 1-based and gapless; unit of optimistic concurrency.';
COMMENT ON COLUMN event.event_type IS 'Past-tense fact name, e.g. UsageRecorded.';
COMMENT ON COLUMN event.schema_version IS 'Version of the payload shape for this event type; old versions are upcast on read.';
COMMENT ON COLUMN event.org_id IS 'Organization the event concerns, for audit reads; NULL for catalog events.';
COMMENT ON COLUMN event.payload IS 'The event body.';
COMMENT ON COLUMN event.metadata IS 'Actor, source, correlation and causation ids.';
COMMENT ON COLUMN event.occurred_at IS 'When it happened in the world.';
COMMENT ON COLUMN event.recorded_at IS 'When the ledger stored it.';
COMMENT ON COLUMN event.idempotency_key IS 'Client-supplied key; a repeat stores nothing and is reported as a duplicate.';

-- Audit reads: one org's history in position order, optionally by type.
CREATE INDEX event_org_position_idx ON event (org_id, global_position) WHERE org_id IS NOT NULL;
CREATE INDEX event_org_type_position_idx ON event (org_id, event_type, global_position) WHERE org_id IS NOT NULL;

CREATE FUNCTION event_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on table event is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER event_refuse_update_delete
    BEFORE UPDATE OR DELETE ON event
    FOR EACH ROW EXECUTE FUNCTION event_is_immutable();

CREATE TRIGGER event_refuse_truncate
    BEFORE TRUNCATE ON event
    FOR EACH STATEMENT EXECUTE FUNCTION event_is_immutable();
