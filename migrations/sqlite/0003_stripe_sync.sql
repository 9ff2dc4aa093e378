-- The Stripe sync projector's own state: a cursor over invoice changes, one
-- row per invoice with what was last published to Stripe, the customers it
-- uses, and a log of every publish attempt. Times are Unix milliseconds
-- (INTEGER) so the same statements run on both backends. Mirrors the
-- PostgreSQL schema, where every column carries a COMMENT.

CREATE TABLE stripe_sync_cursor (
    cursor_name TEXT PRIMARY KEY,
    position    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE stripe_customer (
    org_id             TEXT PRIMARY KEY,
    stripe_customer_id TEXT,
    create_attempted   BOOLEAN NOT NULL DEFAULT false,
    updated_at         BIGINT  NOT NULL
);

CREATE TABLE stripe_invoice_sync (
    org_id              TEXT    NOT NULL,
    period_start        TEXT    NOT NULL,
    target_version      BIGINT  NOT NULL,
    ledger_status       TEXT    NOT NULL,
    published_version   BIGINT  NOT NULL DEFAULT 0,
    terminal_done       BOOLEAN NOT NULL DEFAULT false,
    stripe_customer_id  TEXT,
    stripe_invoice_id   TEXT,
    stripe_status       TEXT,
    snapshot            TEXT    NOT NULL DEFAULT '{}',
    in_flight           BOOLEAN NOT NULL DEFAULT false,
    recovery            BOOLEAN NOT NULL DEFAULT false,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    last_error          TEXT,
    parked              BOOLEAN NOT NULL DEFAULT false,
    next_attempt_at     BIGINT  NOT NULL DEFAULT 0,
    last_published_at   BIGINT,
    lease_owner         TEXT,
    lease_expires_at    BIGINT  NOT NULL DEFAULT 0,
    updated_at          BIGINT  NOT NULL,
    PRIMARY KEY (org_id, period_start)
);
CREATE INDEX stripe_invoice_sync_due_idx ON stripe_invoice_sync (parked, next_attempt_at);

CREATE TABLE stripe_publish (
    stripe_publish_id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id            TEXT   NOT NULL,
    period_start      TEXT   NOT NULL,
    version           BIGINT NOT NULL,
    calls             BIGINT NOT NULL,
    stripe_invoice_id TEXT,
    outcome           TEXT   NOT NULL,
    error             TEXT,
    worker            TEXT   NOT NULL,
    recorded_at       BIGINT NOT NULL
);
CREATE INDEX stripe_publish_invoice_idx ON stripe_publish (org_id, period_start);
