-- Sessions of the HTML console (`/console`): a person signs in by pasting
-- an API token; the browser then holds a random session id in an HttpOnly,
-- SameSite=Strict cookie. Only a SHA-256 hash of that id is stored, so a
-- leaked table signs nobody in. A session dies with its token (revoked),
-- when it expires, or when the person signs out.
CREATE TABLE console_session (
    session_hash TEXT        NOT NULL,
    api_token_id UUID        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ,
    CONSTRAINT console_session_pkey PRIMARY KEY (session_hash),
    CONSTRAINT console_session_api_token_id_fkey FOREIGN KEY (api_token_id)
        REFERENCES api_token (api_token_id) ON DELETE CASCADE,
    CONSTRAINT console_session_expires_at_check CHECK (expires_at > created_at)
);
CREATE INDEX console_session_api_token_id_idx ON console_session (api_token_id);
COMMENT ON TABLE console_session IS 'Signed-in sessions of the HTML console; one row per sign-in.';
COMMENT ON COLUMN console_session.session_hash IS 'Hex SHA-256 of the session id the cookie carries; the id itself is never stored.';
COMMENT ON COLUMN console_session.api_token_id IS 'The API token pasted to sign in: the session has its role and organization, and dies when it is revoked.';
COMMENT ON COLUMN console_session.created_at IS 'When the person signed in.';
COMMENT ON COLUMN console_session.expires_at IS 'After this the session signs nothing in (BILLING_CONSOLE_SESSION_HOURS after sign-in).';
COMMENT ON COLUMN console_session.ended_at IS 'Set when the person signed out; an ended session signs nothing in.';
