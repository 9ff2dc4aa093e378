-- The Stripe sync projector's own state: a cursor over invoice changes, one
-- row per invoice with what was last published to Stripe, the customers it
-- uses, and a log of every publish attempt. Times are Unix milliseconds
-- (BIGINT) so the same statements run on both backends.

CREATE TABLE stripe_sync_cursor (
    cursor_name TEXT PRIMARY KEY,
    position    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
COMMENT ON TABLE stripe_sync_cursor IS 'How far the sync has read the invoice change feed; moves in the same transaction as the queue rows it fills.';
COMMENT ON COLUMN stripe_sync_cursor.position IS 'Event position of the last invoice change queued (stable across projection rebuilds).';

CREATE TABLE stripe_customer (
    org_id             TEXT PRIMARY KEY,
    stripe_customer_id TEXT,
    create_attempted   BOOLEAN NOT NULL DEFAULT false,
    updated_at         BIGINT  NOT NULL
);
COMMENT ON TABLE stripe_customer IS 'The Stripe customer each organization is billed as.';
COMMENT ON COLUMN stripe_customer.stripe_customer_id IS '`cus_…`; NULL while a create is in doubt.';
COMMENT ON COLUMN stripe_customer.create_attempted IS 'A create was sent; without an id, find the customer by metadata before creating again.';

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
COMMENT ON TABLE stripe_invoice_sync IS 'Per invoice: what the ledger wants published and what Stripe holds; also the work queue (claimed with a lease).';
COMMENT ON COLUMN stripe_invoice_sync.period_start IS 'Fixed-width UTC text, as in the projection tables.';
COMMENT ON COLUMN stripe_invoice_sync.target_version IS 'Newest invoice version seen in the change feed.';
COMMENT ON COLUMN stripe_invoice_sync.ledger_status IS 'open | finalized | paid | void, as of target_version.';
COMMENT ON COLUMN stripe_invoice_sync.published_version IS 'Invoice version whose snapshot Stripe holds (0: none).';
COMMENT ON COLUMN stripe_invoice_sync.terminal_done IS 'Finalized (or voided / deleted) in Stripe after the ledger closed the invoice.';
COMMENT ON COLUMN stripe_invoice_sync.stripe_status IS 'draft | open | paid | void | deleted, as last seen.';
COMMENT ON COLUMN stripe_invoice_sync.snapshot IS 'Published lines, JSON: line_id -> {item_id, amount (minor units), description}.';
COMMENT ON COLUMN stripe_invoice_sync.in_flight IS 'A publish started and has not been recorded: Stripe may hold more than the snapshot says.';
COMMENT ON COLUMN stripe_invoice_sync.recovery IS 'Set by a claim that found in_flight: re-read Stripe (stored ids, then metadata) before diffing.';
COMMENT ON COLUMN stripe_invoice_sync.attempts IS 'Failed attempts since the last successful publish.';
COMMENT ON COLUMN stripe_invoice_sync.parked IS 'A permanent error stopped publishing this invoice until an operator retries it.';
COMMENT ON COLUMN stripe_invoice_sync.next_attempt_at IS 'Not before (Unix ms): backoff after failures.';
COMMENT ON COLUMN stripe_invoice_sync.lease_owner IS 'Worker publishing it now; the lease ends at lease_expires_at (Unix ms).';
CREATE INDEX stripe_invoice_sync_due_idx ON stripe_invoice_sync (parked, next_attempt_at);

CREATE TABLE stripe_publish (
    stripe_publish_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
COMMENT ON TABLE stripe_publish IS 'Log of every publish attempt, written with the state it records.';
COMMENT ON COLUMN stripe_publish.calls IS 'Stripe requests made, retries included.';
COMMENT ON COLUMN stripe_publish.outcome IS 'published | finalized | voided | retry | parked.';
CREATE INDEX stripe_publish_invoice_idx ON stripe_publish (org_id, period_start);
