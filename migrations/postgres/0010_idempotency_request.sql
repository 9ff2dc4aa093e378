-- `Idempotency-Key` on API writes, with Stripe's semantics: the first
-- answer to a key is kept for 24 hours and given again to a retry of the
-- same request; the same key with another request is refused (409).
CREATE TABLE idempotency_request (
    scope         TEXT        NOT NULL,
    request_key   TEXT        NOT NULL,
    fingerprint   TEXT        NOT NULL,
    method        TEXT        NOT NULL,
    path          TEXT        NOT NULL,
    status        BIGINT,
    content_type  TEXT,
    body          TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    locked_until  TIMESTAMPTZ NOT NULL,
    CONSTRAINT idempotency_request_pkey PRIMARY KEY (scope, request_key),
    CONSTRAINT idempotency_request_status_check CHECK (status IS NULL OR status BETWEEN 100 AND 599)
);
CREATE INDEX idempotency_request_created_at_idx ON idempotency_request (created_at);
COMMENT ON TABLE idempotency_request IS 'Answers to API writes sent with an Idempotency-Key, kept 24 hours for retries.';
COMMENT ON COLUMN idempotency_request.scope IS 'Hex SHA-256 of the bearer credential: keys of different callers never meet.';
COMMENT ON COLUMN idempotency_request.request_key IS 'The Idempotency-Key header as sent.';
COMMENT ON COLUMN idempotency_request.fingerprint IS 'Hex SHA-256 of method, path, query and body: the same key with another request is refused.';
COMMENT ON COLUMN idempotency_request.status IS 'HTTP status of the kept answer; NULL while the first request is being executed.';
COMMENT ON COLUMN idempotency_request.body IS 'Body of the kept answer.';
COMMENT ON COLUMN idempotency_request.locked_until IS 'While status is NULL: until when the executing request holds the key (after that, a crashed request''s key is taken over).';
