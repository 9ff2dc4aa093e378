-- Bearer tokens of the HTTP API. Only a SHA-256 hash of each token is
-- stored; the token itself is shown once, when it is created.
CREATE TABLE api_token (
    api_token_id UUID        PRIMARY KEY,
    name         TEXT        NOT NULL,
    role         TEXT        NOT NULL CHECK (role IN ('ingest', 'support', 'admin', 'org')),
    org_id       TEXT,
    token_hash   TEXT        NOT NULL UNIQUE,
    token_prefix TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ,
    CHECK ((role = 'org') = (org_id IS NOT NULL))
);
COMMENT ON TABLE api_token IS 'API bearer tokens (hashed), with a role and, for org-scoped read tokens, the organization.';
COMMENT ON COLUMN api_token.token_hash IS 'Hex SHA-256 of the token; the token itself is never stored.';
COMMENT ON COLUMN api_token.token_prefix IS 'First characters of the token, to recognise it in listings.';
COMMENT ON COLUMN api_token.revoked_at IS 'Set when revoked; a revoked token authenticates nothing.';
