//! Every `/v1` request: record → authenticate → faults → parameters → idempotency →
//! execute → answer (or drop the connection).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use crate::api::Op;
use crate::error::StripeErr;
use crate::faults::FaultKind;
use crate::idempotency::{self, Claim, Stored};
use crate::params::Params;
use crate::server::ConnControl;
use crate::state::{lock, RecordedRequest, Shared};
use crate::store::new_id;

const MAX_BODY: usize = 1 << 20;

enum Outcome {
    Respond(Response),
    /// Close the connection without answering.
    Drop,
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    conn: Option<Extension<ConnControl>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let idx = shared.record(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
        status: None,
    });
    let outcome = process(&shared, &parts.method, &parts.uri, &parts.headers, &body).await;
    match (outcome, conn) {
        (Outcome::Respond(response), _) => {
            tracing::debug!(
                method = %parts.method,
                path = %parts.uri.path(),
                status = response.status().as_u16(),
                "stripe fake answered"
            );
            shared.set_status(idx, response.status().as_u16());
            response
        }
        (Outcome::Drop, Some(Extension(conn))) => {
            tracing::debug!(path = %parts.uri.path(), "dropping the connection after commit");
            conn.drop_connection();
            // The connection task drops this future together with the connection.
            std::future::pending::<Response>().await
        }
        (Outcome::Drop, None) => StripeErr::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "cannot drop this connection",
        )
        .into_response(),
    }
}

fn authenticate(headers: &HeaderMap) -> Result<(), StripeErr> {
    let unauthorized = |message: String| {
        StripeErr::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
    };
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized("You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.".into()));
    };
    let key = bearer_or_basic_key(value).unwrap_or_default();
    if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
        return Ok(());
    }
    let shown: String = key.chars().take(8).collect();
    Err(unauthorized(format!(
        "Invalid API Key provided: {shown}****. The Stripe fake accepts any test-mode key (sk_test_… or rk_test_…) sent as 'Authorization: Bearer KEY'."
    )))
}

/// `Bearer KEY`, or HTTP Basic with the key as user name (`curl -u sk_test_…:`), as
/// Stripe accepts both.
fn bearer_or_basic_key(header: &str) -> Option<String> {
    use base64::Engine as _;
    if let Some(key) = header.strip_prefix("Bearer ") {
        return Some(key.trim().to_owned());
    }
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split(':').next().unwrap_or_default().to_owned())
}

fn json_refused() -> StripeErr {
    StripeErr::invalid("Invalid request (check that your POST content type is application/x-www-form-urlencoded). If you have any questions, we can help at https://support.stripe.com/.")
}

/// The request's API version: its `Stripe-Version`, else the account's default. Stripe
/// refuses a malformed version with a 400 that names it.
fn api_version(shared: &Shared, headers: &HeaderMap) -> Result<String, StripeErr> {
    let Some(raw) = headers.get("stripe-version") else {
        return Ok(shared.config.account_api_version.clone());
    };
    let asked = String::from_utf8_lossy(raw.as_bytes()).trim().to_owned();
    if is_api_version(&asked) {
        Ok(asked)
    } else {
        Err(StripeErr::invalid(format!(
            "Invalid Stripe API version: {asked}"
        )))
    }
}

/// `YYYY-MM-DD`, optionally `.name` in lowercase letters.
fn is_api_version(v: &str) -> bool {
    let (date, name) = match v.split_once('.') {
        Some((date, name)) => (date, Some(name)),
        None => (v, None),
    };
    let b = date.as_bytes();
    let date_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    date_ok && name.is_none_or(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_lowercase()))
}

async fn process(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Outcome {
    let version = api_version(shared, headers);
    let outcome = match &version {
        Ok(_) => match run(shared, method, uri, headers, body).await {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Respond(with_request_id(err.into_response())),
        },
        Err(err) => Outcome::Respond(with_request_id(err.clone().into_response())),
    };
    match (outcome, version) {
        (Outcome::Respond(mut response), Ok(version)) => {
            if let Ok(value) = version.parse() {
                response.headers_mut().insert("stripe-version", value);
            }
            Outcome::Respond(response)
        }
        (outcome, _) => outcome,
    }
}

async fn run(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Outcome, StripeErr> {
    let path = uri.path();
    authenticate(headers)?;
    let fault = shared.take_fault(method.as_str(), path);
    if let Some(err) = fault.as_ref().and_then(|f| f.error()) {
        return Err(err);
    }
    let op = Op::resolve(method, path).ok_or_else(|| {
        let mut e = StripeErr::invalid(format!(
            "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
        ));
        e.status = StatusCode::NOT_FOUND;
        e
    })?;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if *method == Method::POST
        && !body.is_empty()
        && !content_type.starts_with("application/x-www-form-urlencoded")
    {
        return Err(json_refused());
    }
    let raw = if *method == Method::POST {
        String::from_utf8_lossy(body).into_owned()
    } else {
        uri.query().unwrap_or_default().to_owned()
    };
    let params = Params::parse(&raw);
    params.check(op.spec())?;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let guard = match (method, key) {
        (&Method::POST, Some(key)) => {
            if key.len() > 255 {
                return Err(StripeErr::invalid(
                    "Idempotency-Key must be at most 255 characters long.",
                )
                .param("Idempotency-Key"));
            }
            match idempotency::claim(shared, key, (path.to_owned(), params.fingerprint()))? {
                Claim::Replay(stored) => return Ok(Outcome::Respond(replay(stored, key))),
                Claim::Run(guard) => Some(guard),
            }
        }
        _ => None,
    };
    if let Some(FaultKind::Latency { delay_ms }) = fault.as_ref().map(|f| &f.kind) {
        tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
    }
    let result = op.execute(&mut lock(&shared.store), &shared.config, &params);
    let stored = match result {
        Ok(body) => Stored {
            status: StatusCode::OK,
            body,
        },
        Err(err) => Stored {
            status: err.status,
            body: err.body(),
        },
    };
    if let Some(guard) = guard {
        guard.complete(stored.clone());
    }
    match fault.map(|f| f.kind) {
        Some(FaultKind::CommitThenDrop) => return Ok(Outcome::Drop),
        Some(FaultKind::UnreadableBody) if stored.status == StatusCode::OK => {
            let body = serde_json::json!({ "object": "unexpected", "note": "injected by the Stripe fake" });
            return Ok(Outcome::Respond(with_request_id(
                (StatusCode::OK, Json(body)).into_response(),
            )));
        }
        _ => {}
    }
    let mut response = with_request_id((stored.status, Json(stored.body)).into_response());
    if let Some(value) = key.and_then(|k| k.parse().ok()) {
        response.headers_mut().insert("idempotency-key", value);
    }
    Ok(Outcome::Respond(response))
}

fn replay(stored: Stored, key: &str) -> Response {
    let mut response = with_request_id((stored.status, Json(stored.body)).into_response());
    let headers = response.headers_mut();
    headers.insert(
        "idempotent-replayed",
        axum::http::HeaderValue::from_static("true"),
    );
    if let Ok(value) = key.parse() {
        headers.insert("idempotency-key", value);
    }
    response
}

fn with_request_id(mut response: Response) -> Response {
    if let Ok(value) = new_id("req").parse() {
        response.headers_mut().insert("request-id", value);
    }
    response
}
