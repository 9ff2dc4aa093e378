-- Payments from Stripe (issue 12): where the catch-up poller has read
-- Stripe's event list up to. Facts themselves are ledger events keyed by
-- Stripe's event id (`stripe-event:<id>`), so this table only says where to
-- resume. Times are Unix milliseconds, as in 0003.

-- How far the payments catch-up has applied Stripe's GET /v1/events.
CREATE TABLE stripe_event_cursor (
    cursor_name        TEXT    NOT NULL,            -- which event stream: `invoices`
    last_event_id      TEXT,                        -- newest `evt_…` applied with every older one; NULL before the first pass
    last_event_created INTEGER NOT NULL DEFAULT 0,  -- its Stripe `created`, Unix ms
    caught_up_at       INTEGER NOT NULL DEFAULT 0,  -- when a pass last reached the newest event, Unix ms
    updated_at         INTEGER NOT NULL,            -- when the row last changed, Unix ms
    CONSTRAINT stripe_event_cursor_pkey PRIMARY KEY (cursor_name),
    CONSTRAINT stripe_event_cursor_cursor_name_check CHECK (cursor_name <> '')
);
