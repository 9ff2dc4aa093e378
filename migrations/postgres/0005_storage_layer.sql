-- Round 2 storage layer: reads never write, closed sets are enforced, the
-- sync's claim query has an index that fits it.

-- The invoice projection's live generation exists from the start, so
-- reading it never has to create it (an API replica cannot write).
INSERT INTO projection (projection_name, active_generation)
VALUES ('invoices', 1)
ON CONFLICT (projection_name) DO NOTHING;

-- Written on every fold commit and read by nothing: an invoice's lines
-- live in invoice.document, which is what the API, the sync and the
-- checksums read.
DROP TABLE invoice_line;

-- Status columns are closed sets.
ALTER TABLE invoice ADD CONSTRAINT invoice_status_check
    CHECK (status IN ('open', 'finalized', 'paid', 'void'));
ALTER TABLE stripe_invoice_sync ADD CONSTRAINT stripe_invoice_sync_ledger_status_check
    CHECK (ledger_status IN ('open', 'finalized', 'paid', 'void'));
ALTER TABLE stripe_invoice_sync ADD CONSTRAINT stripe_invoice_sync_stripe_status_check
    CHECK (stripe_status IN ('draft', 'open', 'paid', 'uncollectible', 'void', 'deleted'));
ALTER TABLE stripe_publish ADD CONSTRAINT stripe_publish_outcome_check
    CHECK (outcome IN ('published', 'finalized', 'voided', 'retry', 'parked'));

-- The claim (sync/src/state/queue.rs) selects rows that are neither
-- parked nor done, ordered by (next_attempt_at, updated_at), LIMIT 1. With
-- this partial index the plan is an Index Scan on
-- stripe_invoice_sync_claim_idx that filters the lease and cadence
-- conditions and stops at the first row that passes (then LockRows for
-- SKIP LOCKED) — no sort, and parked or finished invoices are never read.
DROP INDEX stripe_invoice_sync_due_idx;
CREATE INDEX stripe_invoice_sync_claim_idx ON stripe_invoice_sync (next_attempt_at, updated_at)
    WHERE parked = false AND terminal_done = false;

COMMENT ON COLUMN stripe_invoice_sync.period_start IS
    'The invoice''s period start as fixed-width UTC text (YYYY-MM-DDTHH:MM:SS.ffffffZ); the sync tables keep times as text and Unix milliseconds, unlike the projection tables (TIMESTAMPTZ).';
COMMENT ON COLUMN stripe_invoice_sync.terminal_done IS
    'Finalized (or voided / deleted) in Stripe after the ledger closed the invoice; the API calls it finalized_in_stripe.';
