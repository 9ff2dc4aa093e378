-- Budgets and alerts are ledger events (BudgetSet, AlertTriggered,
-- AlertResolved); these tables hold the side-effecting parts' own state:
-- the alerter's and the webhook dispatcher's cursors, the registered
-- webhook endpoints, one message per (endpoint, event) to deliver, and a
-- log of every delivery attempt. Times are Unix milliseconds (BIGINT), as
-- in the sync's tables, so the same statements run on both backends.

CREATE TABLE notification_cursor (
    cursor_name TEXT   NOT NULL,
    position    BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT notification_cursor_pkey PRIMARY KEY (cursor_name),
    CONSTRAINT notification_cursor_cursor_name_check CHECK (cursor_name IN ('alerter', 'webhook_dispatcher')),
    CONSTRAINT notification_cursor_position_check CHECK (position >= 0)
);
COMMENT ON TABLE notification_cursor IS 'How far the alerter (over the invoice change feed) and the webhook dispatcher (over the events) have read; created here, moved by their owners.';
COMMENT ON COLUMN notification_cursor.cursor_name IS 'alerter: invoice change-feed position; webhook_dispatcher: event global position.';
COMMENT ON COLUMN notification_cursor.position IS 'Everything at or below it has been handled.';
COMMENT ON COLUMN notification_cursor.updated_at IS 'When it last moved (Unix ms).';
INSERT INTO notification_cursor (cursor_name, position, updated_at) VALUES ('alerter', 0, 0), ('webhook_dispatcher', 0, 0);

CREATE TABLE webhook_endpoint (
    webhook_endpoint_id UUID   NOT NULL,
    url                 TEXT   NOT NULL,
    description         TEXT   NOT NULL DEFAULT '',
    event_types         TEXT   NOT NULL,
    secret              TEXT   NOT NULL,
    status              TEXT   NOT NULL,
    disabled_reason     TEXT,
    after_position      BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT webhook_endpoint_pkey PRIMARY KEY (webhook_endpoint_id),
    CONSTRAINT webhook_endpoint_url_check CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    CONSTRAINT webhook_endpoint_secret_check CHECK (secret LIKE 'whsec\_%'),
    CONSTRAINT webhook_endpoint_status_check CHECK (status IN ('enabled', 'disabled'))
);
COMMENT ON TABLE webhook_endpoint IS 'Receivers of outbound webhooks (POST /v1/webhook-endpoints).';
COMMENT ON COLUMN webhook_endpoint.webhook_endpoint_id IS 'The endpoint''s id (UUID v7).';
COMMENT ON COLUMN webhook_endpoint.url IS 'Where deliveries are POSTed: http or https only.';
COMMENT ON COLUMN webhook_endpoint.description IS 'Free text for operators.';
COMMENT ON COLUMN webhook_endpoint.event_types IS 'JSON array of the event type names delivered (alert.triggered, …).';
COMMENT ON COLUMN webhook_endpoint.secret IS 'The signing secret whsec_<base64>, stored raw because signing needs it (NOTES record 20); never returned after creation or rotation.';
COMMENT ON COLUMN webhook_endpoint.status IS 'enabled, or disabled (by an operator, or after a message exhausted the retry schedule).';
COMMENT ON COLUMN webhook_endpoint.disabled_reason IS 'Why it is disabled; NULL while enabled.';
COMMENT ON COLUMN webhook_endpoint.after_position IS 'Events at or below this global position (the head when it was created) are not delivered to it, unless replayed.';
COMMENT ON COLUMN webhook_endpoint.created_at IS 'Unix ms.';
COMMENT ON COLUMN webhook_endpoint.updated_at IS 'Unix ms of the last change.';

CREATE TABLE webhook_message (
    webhook_message_id  BIGINT GENERATED ALWAYS AS IDENTITY,
    webhook_endpoint_id UUID    NOT NULL,
    webhook_id          TEXT    NOT NULL,
    event_position      BIGINT  NOT NULL,
    event_type          TEXT    NOT NULL,
    payload             TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT  NOT NULL,
    lease_until         BIGINT  NOT NULL DEFAULT 0,
    last_error          TEXT,
    created_at          BIGINT  NOT NULL,
    delivered_at        BIGINT,
    CONSTRAINT webhook_message_pkey PRIMARY KEY (webhook_message_id),
    CONSTRAINT webhook_message_webhook_endpoint_id_fkey FOREIGN KEY (webhook_endpoint_id) REFERENCES webhook_endpoint (webhook_endpoint_id) ON DELETE CASCADE,
    CONSTRAINT webhook_message_endpoint_event_key UNIQUE (webhook_endpoint_id, event_position),
    CONSTRAINT webhook_message_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_message_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX webhook_message_due_idx ON webhook_message (status, next_attempt_at);
COMMENT ON TABLE webhook_message IS 'One event to deliver to one endpoint, until delivered or the retry schedule is exhausted.';
COMMENT ON COLUMN webhook_message.webhook_message_id IS 'Row id.';
COMMENT ON COLUMN webhook_message.webhook_endpoint_id IS 'The receiving endpoint.';
COMMENT ON COLUMN webhook_message.webhook_id IS 'The webhook-id header: msg_<event id>, the same on every attempt, redelivery and replay, for receivers to deduplicate.';
COMMENT ON COLUMN webhook_message.event_position IS 'Global position of the ledger event delivered.';
COMMENT ON COLUMN webhook_message.event_type IS 'The webhook event type (alert.triggered, invoice.finalized, …).';
COMMENT ON COLUMN webhook_message.payload IS 'The exact JSON body sent, fixed when the message is created so every attempt is byte-identical.';
COMMENT ON COLUMN webhook_message.status IS 'pending (to deliver), delivered (a 2xx was received), failed (schedule exhausted).';
COMMENT ON COLUMN webhook_message.attempts IS 'Attempts made so far.';
COMMENT ON COLUMN webhook_message.next_attempt_at IS 'Unix ms from which the next attempt is due.';
COMMENT ON COLUMN webhook_message.lease_until IS 'Unix ms until which a dispatcher holds it (an attempt in flight); a crashed dispatcher''s lease runs out and the message is attempted again.';
COMMENT ON COLUMN webhook_message.last_error IS 'What the last failed attempt got.';
COMMENT ON COLUMN webhook_message.created_at IS 'Unix ms.';
COMMENT ON COLUMN webhook_message.delivered_at IS 'Unix ms of the successful attempt.';

CREATE TABLE webhook_attempt (
    webhook_attempt_id  BIGINT GENERATED ALWAYS AS IDENTITY,
    webhook_message_id  BIGINT  NOT NULL,
    webhook_endpoint_id UUID    NOT NULL,
    attempt             INTEGER NOT NULL,
    started_at          BIGINT  NOT NULL,
    latency_ms          BIGINT  NOT NULL,
    response_status     INTEGER,
    outcome             TEXT    NOT NULL,
    error               TEXT,
    CONSTRAINT webhook_attempt_pkey PRIMARY KEY (webhook_attempt_id),
    CONSTRAINT webhook_attempt_webhook_message_id_fkey FOREIGN KEY (webhook_message_id) REFERENCES webhook_message (webhook_message_id) ON DELETE CASCADE,
    CONSTRAINT webhook_attempt_outcome_check CHECK (outcome IN ('delivered', 'failed', 'timeout', 'network_error'))
);
CREATE INDEX webhook_attempt_endpoint_idx ON webhook_attempt (webhook_endpoint_id, webhook_attempt_id);
COMMENT ON TABLE webhook_attempt IS 'Every delivery attempt, for GET /v1/webhook-endpoints/{id}/deliveries.';
COMMENT ON COLUMN webhook_attempt.webhook_attempt_id IS 'Row id (ascending in time).';
COMMENT ON COLUMN webhook_attempt.webhook_message_id IS 'The message attempted.';
COMMENT ON COLUMN webhook_attempt.webhook_endpoint_id IS 'Its endpoint (denormalised for the log).';
COMMENT ON COLUMN webhook_attempt.attempt IS '1 for the first attempt of the message, +1 for each retry.';
COMMENT ON COLUMN webhook_attempt.started_at IS 'Unix ms.';
COMMENT ON COLUMN webhook_attempt.latency_ms IS 'How long the receiver took to answer (or to fail).';
COMMENT ON COLUMN webhook_attempt.response_status IS 'The HTTP status received; NULL without a response.';
COMMENT ON COLUMN webhook_attempt.outcome IS 'delivered (2xx), failed (another status, redirects included), timeout, network_error.';
COMMENT ON COLUMN webhook_attempt.error IS 'What went wrong, for operators.';
