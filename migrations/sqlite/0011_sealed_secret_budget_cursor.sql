-- Round 3 of issue 13: signing secrets encrypted at rest, and the
-- alerter's cursor over budget events.
--
-- Outbound signing secrets are stored encrypted (NOTES record 20, round 3):
-- `sealed_secret` holds `v1:<key id>:<nonce>:<ciphertext>` (XChaCha20-
-- Poly1305 under a key from WEBHOOK_SECRET_KEY, the endpoint id as
-- associated data). The raw column is renamed `plain_secret` and kept only
-- for rows written before this migration: the first start of this version
-- with a key encrypts them and clears it. Exactly one of the two is set.
-- Mirrors the PostgreSQL migration.
--
-- SQLite cannot change a CHECK in place, so webhook_endpoint is rebuilt.
-- Foreign keys are on and dropping a table deletes its rows first, which
-- would cascade to the messages and attempts: the two child tables are
-- rebuilt too (same columns, same order, same rows) and the old tables are
-- dropped children first, so nothing cascades. Renaming a table rewrites
-- the REFERENCES of the tables pointing at it.

CREATE TABLE webhook_endpoint_new (
    webhook_endpoint_id TEXT   NOT NULL,           -- UUID v7
    url                 TEXT   NOT NULL,           -- http or https only
    description         TEXT   NOT NULL DEFAULT '',
    event_types         TEXT   NOT NULL,           -- JSON array of event type names
    plain_secret        TEXT,                      -- legacy raw whsec_… of a row from before 0011, until encrypted; NULL otherwise
    status              TEXT   NOT NULL,           -- enabled | disabled
    disabled_reason     TEXT,                      -- NULL while enabled
    after_position      BIGINT NOT NULL,           -- events at or below are not delivered unless replayed
    created_at          BIGINT NOT NULL,           -- Unix ms
    updated_at          BIGINT NOT NULL,           -- Unix ms
    sealed_secret       TEXT,                      -- v1:<key id>:<nonce b64>:<ciphertext b64>, XChaCha20-Poly1305 under WEBHOOK_SECRET_KEY, AAD the endpoint id
    CONSTRAINT webhook_endpoint_pkey PRIMARY KEY (webhook_endpoint_id),
    CONSTRAINT webhook_endpoint_url_check CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    CONSTRAINT webhook_endpoint_plain_secret_check CHECK (plain_secret LIKE 'whsec\_%' ESCAPE '\'),
    CONSTRAINT webhook_endpoint_status_check CHECK (status IN ('enabled', 'disabled')),
    CONSTRAINT webhook_endpoint_sealed_secret_check CHECK (sealed_secret LIKE 'v1:%:%:%'),
    CONSTRAINT webhook_endpoint_one_secret_check CHECK ((plain_secret IS NULL) <> (sealed_secret IS NULL))
);
INSERT INTO webhook_endpoint_new (webhook_endpoint_id, url, description, event_types, plain_secret,
    status, disabled_reason, after_position, created_at, updated_at, sealed_secret)
SELECT webhook_endpoint_id, url, description, event_types, secret,
    status, disabled_reason, after_position, created_at, updated_at, NULL
FROM webhook_endpoint;

CREATE TABLE webhook_message_new (
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
    CONSTRAINT webhook_message_webhook_endpoint_id_fkey FOREIGN KEY (webhook_endpoint_id) REFERENCES webhook_endpoint_new (webhook_endpoint_id) ON DELETE CASCADE,
    CONSTRAINT webhook_message_endpoint_event_key UNIQUE (webhook_endpoint_id, event_position),
    CONSTRAINT webhook_message_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_message_attempts_check CHECK (attempts >= 0)
);
INSERT INTO webhook_message_new SELECT * FROM webhook_message;

CREATE TABLE webhook_attempt_new (
    webhook_attempt_id  INTEGER PRIMARY KEY,       -- row id, ascending in time
    webhook_message_id  BIGINT  NOT NULL,          -- the message attempted
    webhook_endpoint_id TEXT    NOT NULL,          -- its endpoint
    attempt             INTEGER NOT NULL,          -- 1, 2, … per message
    started_at          BIGINT  NOT NULL,          -- Unix ms
    latency_ms          BIGINT  NOT NULL,
    response_status     INTEGER,                   -- NULL without a response
    outcome             TEXT    NOT NULL,          -- delivered | failed | timeout | network_error
    error               TEXT,
    CONSTRAINT webhook_attempt_webhook_message_id_fkey FOREIGN KEY (webhook_message_id) REFERENCES webhook_message_new (webhook_message_id) ON DELETE CASCADE,
    CONSTRAINT webhook_attempt_outcome_check CHECK (outcome IN ('delivered', 'failed', 'timeout', 'network_error'))
);
INSERT INTO webhook_attempt_new SELECT * FROM webhook_attempt;

DROP TABLE webhook_attempt;
DROP TABLE webhook_message;
DROP TABLE webhook_endpoint;
ALTER TABLE webhook_endpoint_new RENAME TO webhook_endpoint;
ALTER TABLE webhook_message_new RENAME TO webhook_message;
ALTER TABLE webhook_attempt_new RENAME TO webhook_attempt;
CREATE INDEX webhook_message_due_idx ON webhook_message (status, next_attempt_at);
CREATE INDEX webhook_attempt_endpoint_idx ON webhook_attempt (webhook_endpoint_id, webhook_attempt_id);

-- The alerter also reads the events for new budget versions (so a budget
-- set below current spend alerts at once, not on the next invoice change):
-- its own cursor over global positions, starting at the head (budgets set
-- before were evaluated by the invoice changes that followed them). The
-- table is rebuilt to widen its CHECK.
CREATE TABLE notification_cursor_new (
    cursor_name TEXT   NOT NULL,              -- alerter (invoice feed) | webhook_dispatcher (events) | alerter_budgets (events, budget versions)
    position    BIGINT NOT NULL DEFAULT 0,    -- everything at or below it is handled
    updated_at  BIGINT NOT NULL DEFAULT 0,    -- Unix ms
    CONSTRAINT notification_cursor_pkey PRIMARY KEY (cursor_name),
    CONSTRAINT notification_cursor_cursor_name_check CHECK (cursor_name IN ('alerter', 'webhook_dispatcher', 'alerter_budgets')),
    CONSTRAINT notification_cursor_position_check CHECK (position >= 0)
);
INSERT INTO notification_cursor_new SELECT cursor_name, position, updated_at FROM notification_cursor;
DROP TABLE notification_cursor;
ALTER TABLE notification_cursor_new RENAME TO notification_cursor;
INSERT INTO notification_cursor (cursor_name, position, updated_at)
SELECT 'alerter_budgets', COALESCE(MAX(global_position), 0), 0 FROM event;
