-- Sessions of the HTML console (`/console`): a person signs in by pasting
-- an API token; the browser then holds a random session id in an HttpOnly,
-- SameSite=Strict cookie. Only a SHA-256 hash of that id is stored, so a
-- leaked table signs nobody in. A session dies with its token (revoked),
-- when it expires, or when the person signs out.
CREATE TABLE console_session (
    session_hash TEXT NOT NULL,   -- hex SHA-256 of the session id the cookie carries
    api_token_id TEXT NOT NULL,   -- UUID of the API token pasted to sign in (its role and org)
    created_at   TEXT NOT NULL,   -- when the person signed in (fixed-width UTC text)
    expires_at   TEXT NOT NULL,   -- after this the session signs nothing in
    ended_at     TEXT,            -- set when the person signed out
    CONSTRAINT console_session_pkey PRIMARY KEY (session_hash),
    CONSTRAINT console_session_api_token_id_fkey FOREIGN KEY (api_token_id)
        REFERENCES api_token (api_token_id) ON DELETE CASCADE,
    CONSTRAINT console_session_expires_at_check CHECK (expires_at > created_at)
);
CREATE INDEX console_session_api_token_id_idx ON console_session (api_token_id);
