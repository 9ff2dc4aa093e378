-- Budgets and alerts are ledger events (BudgetSet, AlertTriggered,
-- AlertResolved); these tables hold the side-effecting parts' own state:
-- the alerter's and the webhook dispatcher's cursors, the registered
-- webhook endpoints, one message per (endpoint, event) to deliver, and a
-- log of every delivery attempt. Times are Unix milliseconds (INTEGER), as
-- in the sync's tables. Mirrors the PostgreSQL schema, where every column
-- carries a COMMENT.

-- How far the alerter (over the invoice change feed) and the webhook
-- dispatcher (over the events) have read; created here, moved by their owners.
CREATE TABLE notification_cursor (
    cursor_name TEXT   NOT NULL,              -- alerter | webhook_dispatcher
    position    BIGINT NOT NULL DEFAULT 0,    -- everything at or below it is handled
    updated_at  BIGINT NOT NULL DEFAULT 0,    -- Unix ms
    CONSTRAINT notification_cursor_pkey PRIMARY KEY (cursor_name),
    CONSTRAINT notification_cursor_cursor_name_check CHECK (cursor_name IN ('alerter', 'webhook_dispatcher')),
    CONSTRAINT notification_cursor_position_check CHECK (position >= 0)
);
INSERT INTO notification_cursor (cursor_name, position, updated_at) VALUES ('alerter', 0, 0), ('webhook_dispatcher', 0, 0);

-- Receivers of outbound webhooks (POST /v1/webhook-endpoints).
CREATE TABLE webhook_endpoint (
    webhook_endpoint_id TEXT   NOT NULL,           -- UUID v7
    url                 TEXT   NOT NULL,           -- http or https only
    description         TEXT   NOT NULL DEFAULT '',
    event_types         TEXT   NOT NULL,           -- JSON array of event type names
    secret              TEXT   NOT NULL,           -- whsec_<base64>, raw: signing needs it (NOTES record 20)
    status              TEXT   NOT NULL,           -- enabled | disabled
    disabled_reason     TEXT,                      -- NULL while enabled
    after_position      BIGINT NOT NULL,           -- events at or below are not delivered unless replayed
    created_at          BIGINT NOT NULL,           -- Unix ms
    updated_at          BIGINT NOT NULL,           -- Unix ms
    CONSTRAINT webhook_endpoint_pkey PRIMARY KEY (webhook_endpoint_id),
    CONSTRAINT webhook_endpoint_url_check CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    CONSTRAINT webhook_endpoint_secret_check CHECK (secret LIKE 'whsec\_%' ESCAPE '\'),
    CONSTRAINT webhook_endpoint_status_check CHECK (status IN ('enabled', 'disabled'))
);

-- One event to deliver to one endpoint, until delivered or the retry
-- schedule is exhausted.
CREATE TABLE webhook_message (
    webhook_message_id  INTEGER PRIMARY KEY,       -- row id
    webhook_endpoint_id TEXT    NOT NULL,          -- the receiving endpoint
    webhook_id          TEXT    NOT NULL,          -- webhook-id header: msg_<event id>, stable across attempts
    event_position      BIGINT  NOT NULL,          -- global position of the ledger event
    event_type          TEXT    NOT NULL,          -- alert.triggered, invoice.finalized, …
    payload             TEXT    NOT NULL,          -- the exact JSON body sent
    status              TEXT    NOT NULL,          -- pending | delivered | failed
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT  NOT NULL,          -- Unix ms the next attempt is due
    lease_until         BIGINT  NOT NULL DEFAULT 0, -- Unix ms a dispatcher holds it until
    last_error          TEXT,
    created_at          BIGINT  NOT NULL,          -- Unix ms
    delivered_at        BIGINT,                    -- Unix ms of the successful attempt
    CONSTRAINT webhook_message_webhook_endpoint_id_fkey FOREIGN KEY (webhook_endpoint_id) REFERENCES webhook_endpoint (webhook_endpoint_id) ON DELETE CASCADE,
    CONSTRAINT webhook_message_endpoint_event_key UNIQUE (webhook_endpoint_id, event_position),
    CONSTRAINT webhook_message_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_message_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX webhook_message_due_idx ON webhook_message (status, next_attempt_at);

-- Every delivery attempt, for GET /v1/webhook-endpoints/{id}/deliveries.
CREATE TABLE webhook_attempt (
    webhook_attempt_id  INTEGER PRIMARY KEY,       -- row id, ascending in time
    webhook_message_id  BIGINT  NOT NULL,          -- the message attempted
    webhook_endpoint_id TEXT    NOT NULL,          -- its endpoint
    attempt             INTEGER NOT NULL,          -- 1, 2, … per message
    started_at          BIGINT  NOT NULL,          -- Unix ms
    latency_ms          BIGINT  NOT NULL,
    response_status     INTEGER,                   -- NULL without a response
    outcome             TEXT    NOT NULL,          -- delivered | failed | timeout | network_error
    error               TEXT,
    CONSTRAINT webhook_attempt_webhook_message_id_fkey FOREIGN KEY (webhook_message_id) REFERENCES webhook_message (webhook_message_id) ON DELETE CASCADE,
    CONSTRAINT webhook_attempt_outcome_check CHECK (outcome IN ('delivered', 'failed', 'timeout', 'network_error'))
);
CREATE INDEX webhook_attempt_endpoint_idx ON webhook_attempt (webhook_endpoint_id, webhook_attempt_id);
