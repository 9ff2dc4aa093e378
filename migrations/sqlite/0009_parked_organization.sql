-- Poison pills, isolated: an organization the invoice projection cannot
-- fold (an event it cannot decode or use, a state row it cannot read, an
-- invoice it cannot show) is parked in that generation, with the error,
-- and the runner carries on with every other organization. A parked
-- organization's state and invoices stay as last committed; the closer
-- does not finalize its invoices. A rebuild (after the cause is fixed)
-- starts a generation with nothing parked.
CREATE TABLE projection_parked_org (
    projection_name TEXT    NOT NULL,
    generation      INTEGER NOT NULL,
    org_id          TEXT    NOT NULL,
    position        INTEGER NOT NULL,  -- the event being folded when it was parked
    error           TEXT    NOT NULL,  -- what could not be folded, for operators
    parked_at       TEXT    NOT NULL,
    CONSTRAINT projection_parked_org_pkey PRIMARY KEY (projection_name, generation, org_id)
);

-- Invoices the period closer could not finalize on its last attempt; every
-- other invoice is still finalized; the row goes once a later pass
-- finalizes the invoice.
CREATE TABLE invoice_close_failure (
    org_id          TEXT    NOT NULL,
    period_start    TEXT    NOT NULL,  -- as stored in the invoice row (maybe the unreadable value)
    error           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,  -- closing passes that failed for this invoice
    first_failed_at TEXT    NOT NULL,
    last_failed_at  TEXT    NOT NULL,
    CONSTRAINT invoice_close_failure_pkey PRIMARY KEY (org_id, period_start)
);
