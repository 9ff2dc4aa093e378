-- Round 2 storage layer: reads never write, closed sets are enforced, the
-- sync's claim query has an index that fits it. Mirrors the PostgreSQL
-- migration; SQLite cannot add a CHECK to an existing table, so the three
-- tables with status columns are rebuilt (same columns, same order).

-- The invoice projection's live generation exists from the start, so
-- reading it never has to create it.
INSERT INTO projection (projection_name, active_generation, updated_at)
VALUES ('invoices', 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (projection_name) DO NOTHING;

-- Written on every fold commit and read by nothing: lines live in invoice.document.
DROP TABLE invoice_line;

CREATE TABLE invoice_new (
    generation   INTEGER NOT NULL,
    org_id       TEXT    NOT NULL,
    period_start TEXT    NOT NULL,       -- fixed-width UTC text
    period_end   TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('open', 'finalized', 'paid', 'void')),
    version      INTEGER NOT NULL,       -- increases on every content change
    position     INTEGER NOT NULL,       -- last event that changed the invoice
    total        TEXT    NOT NULL,       -- exact decimal, sum of rounded lines
    document     TEXT    NOT NULL,       -- the whole invoice as the fold serialises it (JSON)
    PRIMARY KEY (generation, org_id, period_start)
);
INSERT INTO invoice_new SELECT * FROM invoice;
DROP TABLE invoice;
ALTER TABLE invoice_new RENAME TO invoice;
CREATE INDEX invoice_status_period_end_idx ON invoice (generation, status, period_end);
CREATE INDEX invoice_position_idx ON invoice (generation, position);

CREATE TABLE stripe_invoice_sync_new (
    org_id              TEXT    NOT NULL,
    period_start        TEXT    NOT NULL,            -- fixed-width UTC text
    target_version      BIGINT  NOT NULL,            -- newest invoice version seen in the change feed
    ledger_status       TEXT    NOT NULL CHECK (ledger_status IN ('open', 'finalized', 'paid', 'void')),
    published_version   BIGINT  NOT NULL DEFAULT 0,  -- version whose snapshot Stripe holds (0: none)
    terminal_done       BOOLEAN NOT NULL DEFAULT false, -- finalized / voided / deleted in Stripe
    stripe_customer_id  TEXT,
    stripe_invoice_id   TEXT,
    stripe_status       TEXT CHECK (stripe_status IN ('draft', 'open', 'paid', 'uncollectible', 'void', 'deleted')),
    snapshot            TEXT    NOT NULL DEFAULT '{}', -- published lines, JSON
    in_flight           BOOLEAN NOT NULL DEFAULT false, -- a publish started and was not recorded
    recovery            BOOLEAN NOT NULL DEFAULT false, -- re-read Stripe before diffing
    attempts            BIGINT  NOT NULL DEFAULT 0,  -- failed attempts since the last success
    last_error          TEXT,
    parked              BOOLEAN NOT NULL DEFAULT false, -- permanent error; an operator retries
    next_attempt_at     BIGINT  NOT NULL DEFAULT 0,  -- Unix ms: backoff
    last_published_at   BIGINT,                      -- Unix ms
    lease_owner         TEXT,
    lease_expires_at    BIGINT  NOT NULL DEFAULT 0,  -- Unix ms
    updated_at          BIGINT  NOT NULL,            -- Unix ms
    PRIMARY KEY (org_id, period_start)
);
INSERT INTO stripe_invoice_sync_new SELECT * FROM stripe_invoice_sync;
DROP TABLE stripe_invoice_sync;
ALTER TABLE stripe_invoice_sync_new RENAME TO stripe_invoice_sync;
-- The claim's index (see the PostgreSQL migration for the plan).
CREATE INDEX stripe_invoice_sync_claim_idx ON stripe_invoice_sync (next_attempt_at, updated_at)
    WHERE parked = false AND terminal_done = false;

CREATE TABLE stripe_publish_new (
    stripe_publish_id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id            TEXT   NOT NULL,
    period_start      TEXT   NOT NULL,
    version           BIGINT NOT NULL,
    calls             BIGINT NOT NULL,   -- Stripe requests made, retries included
    stripe_invoice_id TEXT,
    outcome           TEXT   NOT NULL CHECK (outcome IN ('published', 'finalized', 'voided', 'retry', 'parked')),
    error             TEXT,
    worker            TEXT   NOT NULL,
    recorded_at       BIGINT NOT NULL    -- Unix ms
);
INSERT INTO stripe_publish_new SELECT * FROM stripe_publish;
DROP TABLE stripe_publish;
ALTER TABLE stripe_publish_new RENAME TO stripe_publish;
CREATE INDEX stripe_publish_invoice_idx ON stripe_publish (org_id, period_start);
