-- Projections: rebuildable state derived from the event table.
-- Every projection table is keyed by a generation. `projection` names the
-- live generation; a rebuild fills the next one from position 0 while the
-- live one keeps serving, then flips the pointer in one transaction.

CREATE TABLE projection (
    projection_name   TEXT PRIMARY KEY,
    active_generation BIGINT      NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE projection IS 'One row per projection: which generation of its tables is live.';
COMMENT ON COLUMN projection.active_generation IS 'Generation the API reads and the live runner writes.';

CREATE TABLE projection_checkpoint (
    projection_name TEXT        NOT NULL,
    generation      BIGINT      NOT NULL,
    position        BIGINT      NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (projection_name, generation)
);
COMMENT ON TABLE projection_checkpoint IS 'Last event position folded into a generation; written in the same transaction as the state it covers.';

CREATE TABLE projection_state (
    generation BIGINT NOT NULL,
    state_key  TEXT   NOT NULL,
    state      JSONB  NOT NULL,
    PRIMARY KEY (generation, state_key)
);
COMMENT ON TABLE projection_state IS 'The invoice fold''s own state (the catalog and each organization''s book) so the runner can resume incrementally.';
COMMENT ON COLUMN projection_state.state_key IS '`catalog` or `org:<org_id>`.';

CREATE TABLE invoice (
    generation   BIGINT      NOT NULL,
    org_id       TEXT        NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end   TIMESTAMPTZ NOT NULL,
    currency     TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    version      BIGINT      NOT NULL,
    position     BIGINT      NOT NULL,
    total        NUMERIC     NOT NULL,
    document     JSONB       NOT NULL,
    PRIMARY KEY (generation, org_id, period_start)
);
COMMENT ON TABLE invoice IS 'One invoice per organization and billing period, as the fold computes it.';
COMMENT ON COLUMN invoice.version IS 'Increases on every content change.';
COMMENT ON COLUMN invoice.position IS 'Global position of the last event that changed the invoice.';
COMMENT ON COLUMN invoice.total IS 'Sum of rounded line amounts, in currency units.';
COMMENT ON COLUMN invoice.document IS 'The whole invoice (lines included) as serialised by the fold; hashed for drift detection.';
CREATE INDEX invoice_status_period_end_idx ON invoice (generation, status, period_end);
CREATE INDEX invoice_position_idx ON invoice (generation, position);

CREATE TABLE invoice_line (
    generation   BIGINT      NOT NULL,
    org_id       TEXT        NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    line_id      TEXT        NOT NULL,
    ordinal      INTEGER     NOT NULL,
    kind         TEXT        NOT NULL,
    description  TEXT        NOT NULL,
    meter        TEXT,
    price_id     TEXT,
    quantity     NUMERIC     NOT NULL,
    unit_price   NUMERIC,
    amount       NUMERIC     NOT NULL,
    source       JSONB       NOT NULL,
    PRIMARY KEY (generation, org_id, period_start, line_id)
);
COMMENT ON TABLE invoice_line IS 'Lines of each invoice; `source` selects the events behind the line (provenance).';
COMMENT ON COLUMN invoice_line.ordinal IS 'Display order within the invoice.';
COMMENT ON COLUMN invoice_line.amount IS 'Rounded once to the currency minor unit (half away from zero).';
