-- Bearer tokens of the HTTP API. Only a SHA-256 hash of each token is
-- stored; the token itself is shown once, when it is created.
CREATE TABLE api_token (
    api_token_id TEXT PRIMARY KEY,                 -- UUID
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('ingest', 'support', 'admin', 'org')),
    org_id       TEXT,                             -- only for org-scoped read tokens
    token_hash   TEXT NOT NULL UNIQUE,             -- hex SHA-256 of the token
    token_prefix TEXT NOT NULL,                    -- to recognise it in listings
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,                             -- set when revoked
    CHECK ((role = 'org') = (org_id IS NOT NULL))
);
