-- `Idempotency-Key` on API writes, with Stripe's semantics: the first
-- answer to a key is kept for 24 hours and given again to a retry of the
-- same request; the same key with another request is refused (409).
CREATE TABLE idempotency_request (
    scope         TEXT    NOT NULL,  -- hex SHA-256 of the bearer credential
    request_key   TEXT    NOT NULL,  -- the Idempotency-Key header as sent
    fingerprint   TEXT    NOT NULL,  -- hex SHA-256 of method, path, query and body
    method        TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    status        INTEGER,           -- status of the kept answer; NULL while executing
    content_type  TEXT,
    body          TEXT,              -- body of the kept answer
    created_at    TEXT    NOT NULL,
    locked_until  TEXT    NOT NULL,  -- while executing: until when the key is held
    CONSTRAINT idempotency_request_pkey PRIMARY KEY (scope, request_key),
    CONSTRAINT idempotency_request_status_check CHECK (status IS NULL OR status BETWEEN 100 AND 599)
);
CREATE INDEX idempotency_request_created_at_idx ON idempotency_request (created_at);
