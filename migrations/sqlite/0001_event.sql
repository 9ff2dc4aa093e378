-- The event store: every fact the ledger knows, append-only.
-- Columns mirror the PostgreSQL schema; timestamps are fixed-width UTC text
-- (YYYY-MM-DDTHH:MM:SS.ffffffZ) so they sort chronologically.
CREATE TABLE event (
    global_position INTEGER PRIMARY KEY,              -- total order (rowid); writers are serialised
    event_id        TEXT    NOT NULL,                 -- UUID v7, hyphenated
    stream_id       TEXT    NOT NULL,                 -- org-…, usage-…, invoice-…, catalog
    stream_version  INTEGER NOT NULL CHECK (stream_version >= 1), -- 1-based, gapless per stream
    event_type      TEXT    NOT NULL CHECK (event_type <> ''),    -- e.g. UsageRecorded
    schema_version  INTEGER NOT NULL CHECK (schema_version >= 1), -- payload shape version
    org_id          TEXT,                             -- for audit reads; NULL for catalog events
    payload         TEXT    NOT NULL CHECK (json_type(payload) = 'object'), -- the event body (JSON)
    metadata        TEXT    NOT NULL DEFAULT '{}',    -- actor, source, correlation/causation (JSON)
    occurred_at     TEXT    NOT NULL,                 -- when it happened in the world
    recorded_at     TEXT    NOT NULL,                 -- when the ledger stored it
    idempotency_key TEXT CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255),
    CONSTRAINT event_event_id_key UNIQUE (event_id),
    CONSTRAINT event_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT event_idempotency_key_key UNIQUE (idempotency_key)
);

CREATE INDEX event_org_position_idx ON event (org_id, global_position) WHERE org_id IS NOT NULL;
CREATE INDEX event_org_type_position_idx ON event (org_id, event_type, global_position) WHERE org_id IS NOT NULL;

CREATE TRIGGER event_refuse_update BEFORE UPDATE ON event
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: UPDATE on table event is not allowed');
END;

CREATE TRIGGER event_refuse_delete BEFORE DELETE ON event
BEGIN
    SELECT RAISE(ABORT, 'events are immutable: DELETE on table event is not allowed');
END;
