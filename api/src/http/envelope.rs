//! The last line of defence for the one error envelope: whatever layer
//! answered with an error — axum's router (405), a timeout (408), a body
//! limit, a panic — the client gets `{"error":{code,message,field}}` with
//! the right status. Handlers' own errors already are envelopes
//! ([`super::error::ApiError`]) and pass through unchanged.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// JSON (an envelope already), or one of the console's HTML error pages.
fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"))
}

/// The envelope for an error some layer answered without one.
fn envelope(status: StatusCode, allow: Option<HeaderValue>) -> Response {
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this path does not take that method (see the Allow header and GET /v1/openapi.json)",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "timeout",
            "the request took longer than the server allows; retry (writes are idempotent by their keys)",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        s if s.is_server_error() => ("internal", "internal error; it has been logged"),
        _ => ("bad_request", "the request could not be processed"),
    };
    let mut response = ApiError::new(status, code, message).into_response();
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// Middleware: give every error response without a JSON body the envelope.
pub async fn every_error_is_an_envelope(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    envelope(status, allow)
}

/// For `CatchPanicLayer`: a handler that panicked answers 500, logged.
pub fn panicked(err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    tracing::error!(panic = detail, "request handler panicked");
    envelope(StatusCode::INTERNAL_SERVER_ERROR, None)
}
