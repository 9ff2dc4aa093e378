-- Poison pills, isolated: an organization the invoice projection cannot
-- fold (an event it cannot decode or use, a state row it cannot read, an
-- invoice it cannot show) is parked in that generation, with the error,
-- and the runner carries on with every other organization. A parked
-- organization's state and invoices stay as last committed; the closer
-- does not finalize its invoices. A rebuild (after the cause is fixed)
-- starts a generation with nothing parked.
CREATE TABLE projection_parked_org (
    projection_name TEXT        NOT NULL,
    generation      BIGINT      NOT NULL,
    org_id          TEXT        NOT NULL,
    position        BIGINT      NOT NULL,
    error           TEXT        NOT NULL,
    parked_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT projection_parked_org_pkey PRIMARY KEY (projection_name, generation, org_id)
);
COMMENT ON TABLE projection_parked_org IS 'Organizations a projection generation set aside because it could not fold them; every other organization carries on.';
COMMENT ON COLUMN projection_parked_org.position IS 'Global position of the event being folded when the organization was parked.';
COMMENT ON COLUMN projection_parked_org.error IS 'What could not be folded, in words, for operators.';

-- Invoices the period closer could not finalize on its last attempt (a
-- row it could not read, an organization stream it could not use). Every
-- other invoice is still finalized; the row goes when a later pass
-- finalizes the invoice.
CREATE TABLE invoice_close_failure (
    org_id          TEXT        NOT NULL,
    period_start    TEXT        NOT NULL,
    error           TEXT        NOT NULL,
    attempts        BIGINT      NOT NULL,
    first_failed_at TIMESTAMPTZ NOT NULL,
    last_failed_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT invoice_close_failure_pkey PRIMARY KEY (org_id, period_start)
);
COMMENT ON TABLE invoice_close_failure IS 'Invoices the period closer failed to finalize, with the last error; removed once finalized.';
COMMENT ON COLUMN invoice_close_failure.period_start IS 'The period start as stored in the invoice row (text: it may be the value that could not be read).';
COMMENT ON COLUMN invoice_close_failure.attempts IS 'Closing passes that failed for this invoice.';
