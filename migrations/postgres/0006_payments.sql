-- Payments from Stripe (issue 12): where the catch-up poller has read
-- Stripe's event list up to. Facts themselves are ledger events keyed by
-- Stripe's event id (`stripe-event:<id>`), so this table only says where to
-- resume. Times are Unix milliseconds (BIGINT), as in 0003.

CREATE TABLE stripe_event_cursor (
    cursor_name        TEXT   NOT NULL,
    last_event_id      TEXT,
    last_event_created BIGINT NOT NULL DEFAULT 0,
    caught_up_at       BIGINT NOT NULL DEFAULT 0,
    updated_at         BIGINT NOT NULL,
    CONSTRAINT stripe_event_cursor_pkey PRIMARY KEY (cursor_name),
    CONSTRAINT stripe_event_cursor_cursor_name_check CHECK (cursor_name <> '')
);
COMMENT ON TABLE stripe_event_cursor IS 'How far the payments catch-up has applied Stripe''s GET /v1/events; one row per cursor (today only `invoices`).';
COMMENT ON COLUMN stripe_event_cursor.cursor_name IS 'Which event stream: `invoices` (invoice and refund event types).';
COMMENT ON COLUMN stripe_event_cursor.last_event_id IS 'The newest Stripe event (`evt_…`) applied with every older one; NULL before the first pass. The next pass lists events `ending_before` it.';
COMMENT ON COLUMN stripe_event_cursor.last_event_created IS 'Stripe''s `created` of that event, Unix milliseconds (0 before the first).';
COMMENT ON COLUMN stripe_event_cursor.caught_up_at IS 'When a pass last reached the newest event, Unix milliseconds (catch-up lag is now minus this).';
COMMENT ON COLUMN stripe_event_cursor.updated_at IS 'When the row last changed, Unix milliseconds.';
