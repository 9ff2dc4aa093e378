//! The HTML console, served by `billing serve` under `/console`:
//!
//! - for **support and admin** tokens: organization search, an
//!   organization's page (the current invoice updating live, Stripe sync
//!   status, past invoices), invoices with their lines, a line's events,
//!   the invoice "as it stood at" a past moment, the event history with
//!   filters and paging, and (admin) the operations page with projection
//!   lag and parked syncs to retry;
//! - for **org** tokens: the developer billing page of their own
//!   organization (owed now, usage per day per meter as SVG charts, past
//!   invoices).
//!
//! Handlers are as thin as the JSON ones: they read through the very query
//! functions the JSON handlers call (`crate::http::invoices::read_*` and
//! friends), so the console and the API cannot disagree, and render typed
//! view models ([`views`]) with compile-time-checked askama templates.
//! Everything (CSS, the one small script) is embedded in the binary.
//!
//! Sign-in, cookies and CSRF: see [`session`]. Pages are reads and work on
//! a read-only replica for a session made on the primary; signing in and
//! out and retrying need the primary (a replica answers them with a 503
//! page).

mod chart;
mod pages;
pub mod session;
mod views;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::error::ApiError;
use crate::http::AppState;

/// The console's routes (HTML; kept out of the OpenAPI document).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/assets/console.js", get(script))
        .route("/console/organizations", get(pages::organizations))
        .route("/console/organizations/{org_id}", get(pages::organization))
        .route("/console/organizations/{org_id}/live", get(pages::live))
        .route(
            "/console/organizations/{org_id}/billing",
            get(pages::billing),
        )
        .route("/console/organizations/{org_id}/events", get(pages::events))
        .route(
            "/console/organizations/{org_id}/invoices/{period_start}",
            get(pages::invoice),
        )
        .route(
            "/console/organizations/{org_id}/invoices/{period_start}/lines/{line_id}",
            get(pages::line),
        )
        .route("/console/ops", get(pages::ops))
        .route(
            "/console/ops/sync/{org_id}/{period_start}/retry",
            post(pages::retry),
        )
        .layer(axum::middleware::map_response(security_headers))
}

/// Every console answer: a strict content security policy (only our own
/// stylesheet and script), no framing, no referrer, no caching.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Render a page, or the 500 page if the template fails.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering a console page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(
                    "<!doctype html><title>Error</title><p>Internal error; it has been logged.</p>",
                ),
            )
                .into_response()
        }
    }
}

/// An error shown as a page: the same status and message as the JSON
/// API's error for the same read.
#[derive(Debug)]
pub struct ConsoleError(pub ApiError);

impl From<ApiError> for ConsoleError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let heading = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        render(
            status,
            &views::ErrorPage {
                layout: views::Layout::anonymous(heading),
                heading: heading.to_owned(),
                message: self.0.message,
                status: status.as_u16(),
            },
        )
    }
}
