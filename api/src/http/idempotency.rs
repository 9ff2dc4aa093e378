//! `Idempotency-Key` on every API write, with Stripe's semantics.
//!
//! A write (POST, PUT, PATCH, DELETE) sent with the header is executed
//! once per caller and key: its answer is kept for 24 hours, and a retry
//! of the same request (same method, path, query and body) gets that
//! answer again, marked `Idempotent-Replayed: true`, without executing
//! anything. The same key with another request is refused with 409
//! `idempotency_key_reused`; a retry while the first is still executing
//! gets 409 `idempotency_in_progress` (retry it a moment later).
//!
//! Only successes (2xx) are kept. An error stored nothing, so its key is
//! released and a retry runs the rules again — after, say, the missing
//! organization has been registered (Stripe likewise keeps no result for a
//! request that failed validation). Keys are scoped by a hash of the
//! caller's bearer credential, so two callers' keys never meet. A process
//! that dies while executing holds the key only until the request timeout
//! has passed; a retry then executes again, and the ledger's own keys (an
//! organization id, an entry id, a usage key) make that execution find
//! what the first one stored.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ledger::db::{DbTime, WriteTx};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// The header that marks a replayed answer (as Stripe names it).
pub const REPLAYED: &str = "Idempotent-Replayed";
/// Longest key accepted (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;

/// How long an answer is kept.
fn kept_for() -> chrono::Duration {
    chrono::Duration::hours(24)
}

/// Writes that take the header. The Stripe webhook is signed by Stripe and
/// deduplicated by Stripe's event id instead.
pub fn applies_to(method: &Method, path: &str) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && !path.starts_with("/v1/webhooks/")
}

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The documented writes, by (method, route template): only those take
/// the header (an undeclared method gets its 405 whatever it carries).
#[derive(Debug, Default)]
pub struct Writes(std::collections::HashSet<(Method, String)>);

impl Writes {
    /// Every write of `doc` that [`applies_to`].
    pub fn of(doc: &utoipa::openapi::OpenApi) -> Self {
        let mut writes = std::collections::HashSet::new();
        for (path, item) in &doc.paths.paths {
            for (method, operation) in [
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ] {
                if operation.is_some() && applies_to(&method, path) {
                    writes.insert((method, path.clone()));
                }
            }
        }
        Self(writes)
    }

    fn contains(&self, method: &Method, template: &str) -> bool {
        self.0.contains(&(method.clone(), template.to_owned()))
    }
}

/// The middleware: see the module documentation.
pub async fn keep_answers(
    State((state, writes)): State<(AppState, std::sync::Arc<Writes>)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let template = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    if !template.is_some_and(|t| writes.contains(request.method(), &t)) {
        return next.run(request).await;
    }
    let Some(raw) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let key = match raw.to_str() {
        Ok(key) if valid_key(key) => key.to_owned(),
        _ => {
            return ApiError::bad_request(format!(
                "the {HEADER} header must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
            .with_field(HEADER)
            .into_response()
        }
    };
    // No credential: the handler answers 401; nothing to keep.
    let Some(credential) = request.headers().get(AUTHORIZATION).cloned() else {
        return next.run(request).await;
    };
    let scope = hex_sha256(&[credential.as_bytes()]);
    let method = request.method().clone();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, state.config.body_limit).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {} bytes", state.config.body_limit),
        )
        .into_response();
    };
    let fingerprint = hex_sha256(&[method.as_str().as_bytes(), target.as_bytes(), &body]);
    let now = Utc::now();
    let held_until = now
        + chrono::Duration::from_std(state.config.request_timeout).unwrap_or_default()
        + chrono::Duration::seconds(5);
    let request_row = Claimed {
        scope: &scope,
        key: &key,
        fingerprint: &fingerprint,
    };
    match claim(
        &state,
        &request_row,
        method.as_str(),
        &path,
        now,
        held_until,
    )
    .await
    {
        Ok(Claim::Execute) => {}
        Ok(Claim::Replay(kept)) => return kept.into_response(),
        Ok(Claim::OtherRequest) => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                format!(
                    "this {HEADER} was already used with another request (method, path or body); \
                     use a new key for a new request"
                ),
            )
            .with_field(HEADER)
            .into_response()
        }
        Ok(Claim::InProgress) => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                format!("a request with this {HEADER} is still being executed; retry in a moment"),
            )
            .with_field(HEADER)
            .into_response()
        }
        Err(e) => return ApiError::internal(e).into_response(),
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        release(&state, &request_row).await;
        return ApiError::internal("reading a response body failed").into_response();
    };
    let text = std::str::from_utf8(&body).ok();
    match text.filter(|_| parts.status.is_success()) {
        Some(text) => {
            let content_type = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let kept = Kept {
                status: parts.status.as_u16(),
                content_type,
                body: text.to_owned(),
            };
            if let Err(e) = keep(&state, &request_row, &kept).await {
                // The write itself succeeded: answer it; a retry after the
                // hold executes again and finds what was stored.
                tracing::error!(error = %e, "keeping an idempotent answer failed");
            }
        }
        None => release(&state, &request_row).await,
    }
    Response::from_parts(parts, Body::from(body))
}

struct Claimed<'a> {
    scope: &'a str,
    key: &'a str,
    fingerprint: &'a str,
}

enum Claim {
    Execute,
    Replay(Kept),
    OtherRequest,
    InProgress,
}

struct Kept {
    status: u16,
    content_type: Option<String>,
    body: String,
}

impl IntoResponse for Kept {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = (status, self.body).into_response();
        let headers = response.headers_mut();
        if let Some(value) = self
            .content_type
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(CONTENT_TYPE, value);
        }
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
        response
    }
}

type KeptRow = (String, Option<i64>, Option<String>, Option<String>, DbTime);

async fn claim(
    state: &AppState,
    request: &Claimed<'_>,
    method: &str,
    path: &str,
    now: DateTime<Utc>,
    held_until: DateTime<Utc>,
) -> Result<Claim, ledger::StoreError> {
    let mut tx = state.db.begin_write().await?;
    // Answers older than a day are forgotten (the index on created_at
    // keeps this cheap), this key's included.
    tx.query("DELETE FROM idempotency_request WHERE created_at < $1")
        .bind(DbTime(now - kept_for()))
        .execute()
        .await?;
    let inserted = tx
        .query(
            "INSERT INTO idempotency_request \
               (scope, request_key, fingerprint, method, path, created_at, locked_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (scope, request_key) DO NOTHING",
        )
        .bind(request.scope)
        .bind(request.key)
        .bind(request.fingerprint)
        .bind(method)
        .bind(path)
        .bind(DbTime(now))
        .bind(DbTime(held_until))
        .execute()
        .await?;
    let claim = if inserted == 1 {
        Claim::Execute
    } else {
        existing(&mut tx, state, request, now, held_until).await?
    };
    tx.commit().await?;
    Ok(claim)
}

async fn existing(
    tx: &mut WriteTx,
    state: &AppState,
    request: &Claimed<'_>,
    now: DateTime<Utc>,
    held_until: DateTime<Utc>,
) -> Result<Claim, ledger::StoreError> {
    let sql = format!(
        "SELECT fingerprint, status, content_type, body, locked_until FROM idempotency_request \
         WHERE scope = $1 AND request_key = $2 {}",
        state.db.dialect().for_update()
    );
    let row: Option<KeptRow> = tx
        .query_as(&sql)
        .bind(request.scope)
        .bind(request.key)
        .fetch_optional()
        .await?;
    let Some((fingerprint, status, content_type, body, locked_until)) = row else {
        // Released between our insert and this read: the caller retries.
        return Ok(Claim::InProgress);
    };
    if fingerprint != request.fingerprint {
        return Ok(Claim::OtherRequest);
    }
    if let (Some(status), Some(body)) = (status, body) {
        return Ok(Claim::Replay(Kept {
            status: u16::try_from(status).unwrap_or(200),
            content_type,
            body,
        }));
    }
    if locked_until.0 > now {
        return Ok(Claim::InProgress);
    }
    // The request that held the key died mid-way: take it over.
    tx.query(
        "UPDATE idempotency_request SET locked_until = $3 \
         WHERE scope = $1 AND request_key = $2 AND status IS NULL",
    )
    .bind(request.scope)
    .bind(request.key)
    .bind(DbTime(held_until))
    .execute()
    .await?;
    Ok(Claim::Execute)
}

async fn keep(
    state: &AppState,
    request: &Claimed<'_>,
    kept: &Kept,
) -> Result<(), ledger::StoreError> {
    let mut tx = state.db.begin_write().await?;
    tx.query(
        "UPDATE idempotency_request SET status = $4, content_type = $5, body = $6 \
         WHERE scope = $1 AND request_key = $2 AND fingerprint = $3 AND status IS NULL",
    )
    .bind(request.scope)
    .bind(request.key)
    .bind(request.fingerprint)
    .bind(i64::from(kept.status))
    .bind(kept.content_type.as_deref())
    .bind(kept.body.as_str())
    .execute()
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Forget a key whose request stored nothing, so a retry executes again.
async fn release(state: &AppState, request: &Claimed<'_>) {
    let released = async {
        let mut tx = state.db.begin_write().await?;
        tx.query(
            "DELETE FROM idempotency_request \
             WHERE scope = $1 AND request_key = $2 AND fingerprint = $3 AND status IS NULL",
        )
        .bind(request.scope)
        .bind(request.key)
        .bind(request.fingerprint)
        .execute()
        .await?;
        tx.commit().await?;
        Ok::<_, ledger::StoreError>(())
    };
    if let Err(e) = released.await {
        tracing::error!(error = %e, "releasing an idempotency key failed; it frees itself after the hold");
    }
}

/// Declare the header on every write of the document.
pub fn document(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::Required;
    for (path, item) in doc.paths.paths.iter_mut() {
        let writes = [
            (Method::POST, item.post.as_mut()),
            (Method::PUT, item.put.as_mut()),
            (Method::PATCH, item.patch.as_mut()),
            (Method::DELETE, item.delete.as_mut()),
        ];
        for (method, operation) in writes {
            let Some(operation) = operation else {
                continue;
            };
            if !applies_to(&method, path) {
                continue;
            }
            let parameter = ParameterBuilder::new()
                .name(HEADER)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes a retry safe: the same key with the same request within 24 hours \
                     gets the first answer again (`Idempotent-Replayed: true`) without executing \
                     anything; the same key with another request gets 409.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(MAX_KEY_LEN))
                        .pattern(Some("^[!-~]+$")),
                ))
                .build();
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(parameter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255_bytes() {
        assert!(valid_key("a"));
        assert!(valid_key(&"k".repeat(255)));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(256)));
        assert!(!valid_key("with space"));
        assert!(!valid_key("ünicode"));
    }

    #[test]
    fn fingerprints_separate_their_parts() {
        assert_ne!(
            hex_sha256(&[b"POST", b"/v1/a", b"b"]),
            hex_sha256(&[b"POST", b"/v1/ab", b""])
        );
    }

    #[test]
    fn only_writes_outside_the_stripe_webhook_take_the_header() {
        assert!(applies_to(&Method::POST, "/v1/organizations"));
        assert!(applies_to(&Method::PUT, "/v1/organizations/acme/budget"));
        assert!(!applies_to(&Method::GET, "/v1/organizations"));
        assert!(!applies_to(&Method::POST, "/v1/webhooks/stripe"));
    }
}
