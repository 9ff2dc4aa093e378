-- Projections: rebuildable state derived from the event table. Mirrors the
-- PostgreSQL schema; decimals are exact TEXT, timestamps fixed-width UTC text.
-- Every projection table is keyed by a generation; `projection` names the
-- live one, and a rebuild fills the next one then flips the pointer.

CREATE TABLE projection (
    projection_name   TEXT PRIMARY KEY,
    active_generation INTEGER NOT NULL,  -- generation the API reads and the live runner writes
    updated_at        TEXT    NOT NULL
);

CREATE TABLE projection_checkpoint (
    projection_name TEXT    NOT NULL,
    generation      INTEGER NOT NULL,
    position        INTEGER NOT NULL,    -- last event position folded into this generation
    updated_at      TEXT    NOT NULL,
    PRIMARY KEY (projection_name, generation)
);

CREATE TABLE projection_state (
    generation INTEGER NOT NULL,
    state_key  TEXT    NOT NULL,         -- `catalog` or `org:<org_id>`
    state      TEXT    NOT NULL,         -- the fold's own state, JSON
    PRIMARY KEY (generation, state_key)
);

CREATE TABLE invoice (
    generation   INTEGER NOT NULL,
    org_id       TEXT    NOT NULL,
    period_start TEXT    NOT NULL,
    period_end   TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    version      INTEGER NOT NULL,       -- increases on every content change
    position     INTEGER NOT NULL,       -- last event that changed the invoice
    total        TEXT    NOT NULL,       -- exact decimal, sum of rounded lines
    document     TEXT    NOT NULL,       -- the whole invoice as the fold serialises it (JSON)
    PRIMARY KEY (generation, org_id, period_start)
);
CREATE INDEX invoice_status_period_end_idx ON invoice (generation, status, period_end);
CREATE INDEX invoice_position_idx ON invoice (generation, position);

CREATE TABLE invoice_line (
    generation   INTEGER NOT NULL,
    org_id       TEXT    NOT NULL,
    period_start TEXT    NOT NULL,
    line_id      TEXT    NOT NULL,
    ordinal      INTEGER NOT NULL,       -- display order
    kind         TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    meter        TEXT,
    price_id     TEXT,
    quantity     TEXT    NOT NULL,       -- exact decimal
    unit_price   TEXT,                   -- exact decimal
    amount       TEXT    NOT NULL,       -- exact decimal, rounded once to the minor unit
    source       TEXT    NOT NULL,       -- JSON selector of the events behind the line
    PRIMARY KEY (generation, org_id, period_start, line_id)
);
