//! Console sessions: sign-in with an API token, a random session id in an
//! HttpOnly, SameSite=Strict cookie (only its SHA-256 hash is stored), a
//! CSRF token derived from the session id and checked in constant time on
//! every form that writes, and sign-out that ends the row.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use ledger::db::{Database, DbTime, DbUuid};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::AppState;
use crate::tokens::{self, Principal};

/// The session cookie's name.
pub const COOKIE: &str = "ledger_console";
/// The sign-in form's anti-forgery cookie (login CSRF, before a session exists).
pub const LOGIN_COOKIE: &str = "ledger_console_login";

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part);
    }
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 32 random bytes, URL-safe base64.
pub fn random_secret() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
}

/// What the table stores for a session id.
fn session_hash(id: &str) -> String {
    hex_sha256(&[id.as_bytes()])
}

/// The CSRF token of a session: derived from the secret id (which only the
/// browser holds), never from what the table stores.
fn csrf_of(id: &str) -> String {
    hex_sha256(&[b"ledger-console-csrf\0", id.as_bytes()])
}

/// Constant-time comparison of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/console, and
/// Secure when configured. `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    api_token_id: DbUuid,
    expires_at: DbTime,
}

/// Start a session for `principal`; returns the session id for the cookie.
pub async fn start(
    db: &Database,
    principal: &Principal,
    ttl: std::time::Duration,
) -> anyhow::Result<String> {
    let id = random_secret();
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(ttl)?;
    let mut tx = db.begin_write().await?;
    tx.query(
        "INSERT INTO console_session (session_hash, api_token_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(session_hash(&id))
    .bind(DbUuid(principal.token_id))
    .bind(DbTime(now))
    .bind(DbTime(expires))
    .execute()
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// End a session (sign out): it signs nothing in any more.
pub async fn end(db: &Database, id: &str) -> anyhow::Result<()> {
    let mut tx = db.begin_write().await?;
    tx.query(
        "UPDATE console_session SET ended_at = $2 WHERE session_hash = $1 AND ended_at IS NULL",
    )
    .bind(session_hash(id))
    .bind(DbTime(Utc::now()))
    .execute()
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The live principal of a session id: not ended, not expired, its token
/// not revoked. Reads only, so it works on a replica.
async fn lookup(db: &Database, id: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Principal>> {
    if id.is_empty() || id.len() > 100 {
        return Ok(None);
    }
    let row = db
        .query_as::<SessionRow>(
            "SELECT api_token_id, expires_at FROM console_session \
             WHERE session_hash = $1 AND ended_at IS NULL",
        )
        .bind(session_hash(id))
        .fetch_optional()
        .await?;
    match row {
        Some(row) if row.expires_at.0 > now => tokens::live_principal(db, row.api_token_id.0).await,
        _ => Ok(None),
    }
}

/// A signed-in console visitor. Without a live session the request is
/// redirected to the sign-in page.
pub struct Session {
    pub principal: Principal,
    /// The session id (from the cookie), to end it on sign-out.
    pub id: String,
    /// Put in every writing form; checked by [`Session::check_csrf`].
    pub csrf: String,
}

impl Session {
    /// Whether a posted CSRF token is this session's (constant time).
    pub fn check_csrf(&self, posted: &str) -> bool {
        same(&self.csrf, posted)
    }
}

/// Why there is no session: go and sign in (or the store failed).
pub enum NoSession {
    SignIn,
    Failed(anyhow::Error),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/console/login").into_response(),
            Self::Failed(err) => {
                super::ConsoleError::from(crate::http::error::ApiError::from(err)).into_response()
            }
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NoSession> {
        let id = cookie(&parts.headers, COOKIE)
            .ok_or(NoSession::SignIn)?
            .to_owned();
        match lookup(&state.db, &id, Utc::now()).await {
            Ok(Some(principal)) => Ok(Self {
                principal,
                csrf: csrf_of(&id),
                id,
            }),
            Ok(None) => Err(NoSession::SignIn),
            Err(err) => Err(NoSession::Failed(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_not_the_stored_hash_and_compares_exactly() {
        let id = random_secret();
        assert_ne!(csrf_of(&id), session_hash(&id));
        assert!(same(&csrf_of(&id), &csrf_of(&id)));
        assert!(!same(&csrf_of(&id), &csrf_of(&random_secret())));
        assert!(!same(&csrf_of(&id), ""));
    }

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; ledger_console=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None);
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_when_asked() {
        let plain = set_cookie(COOKIE, "v", 60, false);
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        assert!(set_cookie(COOKIE, "v", 60, true).ends_with("; Secure"));
    }
}
