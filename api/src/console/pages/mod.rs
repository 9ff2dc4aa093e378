//! The console's handlers: check the session, call the query function the
//! JSON handler calls, turn the answer into a view model, render it.
//!
//! - [`sign_in`]: sign in, sign out, where a visitor starts;
//! - [`directory`]: organization search, an organization's page, its live total;
//! - [`invoice`]: an invoice (live or as of a moment), a line's events, the history;
//! - [`operations`]: projection lag and parked syncs (admin);
//! - [`billing`]: the developer billing page.

mod billing;
mod directory;
mod invoice;
mod operations;
mod sign_in;

use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

pub use billing::billing;
pub use directory::{live, organization, organizations};
pub use invoice::{events, invoice, line};
pub use operations::{ops, retry};
pub use sign_in::{home, login, login_form, logout};

use super::session::Session;
use super::ConsoleError;
use crate::http::error::ApiError;
use crate::http::extract::{Auth, OrgPath};
use crate::http::invoices::{self, ReadOptions};
use crate::http::AppState;

/// What every page handler answers: the page, or an error page.
pub(super) type Page = Result<Response, ConsoleError>;

/// The field every writing form posts.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// The session's principal, as the JSON handlers' [`Auth`] carries it.
pub(super) fn auth(session: &Session) -> Auth {
    Auth(session.principal.clone())
}

/// A form that does not parse: 400, as the JSON API would answer.
pub(super) fn bad_form(err: FormRejection) -> ConsoleError {
    ConsoleError(ApiError::bad_request(err.body_text()))
}

/// Writes (sessions, retries) need the primary: a replica answers 503.
pub(super) fn primary_only(state: &AppState) -> Result<(), ConsoleError> {
    if state.db.is_read_only() {
        return Err(ConsoleError(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read_only",
            "this server is a read-only replica: sign in, sign out and retry on the primary",
        )));
    }
    Ok(())
}

/// A writing form without this session's CSRF token: 403.
pub(super) fn forged() -> ConsoleError {
    ConsoleError(ApiError::forbidden(
        "the form's CSRF token does not match this session: reload the page and try again",
    ))
}

/// `{org_id}` as the JSON handlers take it.
pub(super) fn org_path(org_id: &str) -> OrgPath {
    OrgPath {
        org_id: org_id.to_owned(),
    }
}

/// The current invoice, or why there is none (404: none open yet).
pub(super) async fn current_or_none(
    state: &AppState,
    auth: &Auth,
    org_id: &str,
) -> Result<Result<invoices::InvoiceRead, String>, ConsoleError> {
    match invoices::read_current(state, auth, org_id, &ReadOptions::default()).await {
        Ok(read) => Ok(Ok(read)),
        Err(err)
            if err.status == StatusCode::NOT_FOUND && err.message.contains("no open invoice") =>
        {
            Ok(Err(err.message))
        }
        Err(err) => Err(err.into()),
    }
}

/// The current period's spend against the budget (read after the caller
/// was authorised for `org`), or nothing when no invoice is open yet.
pub(super) async fn spend_or_none(
    state: &AppState,
    org: &ledger::OrgId,
) -> Result<Option<super::views::SpendView>, ConsoleError> {
    match crate::http::budgets::read_spend(state, org, None).await {
        Ok(spend) => Ok(Some(super::views::SpendView::of(&spend))),
        Err(err) if err.status == StatusCode::NOT_FOUND => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// A `datetime-local` value (UTC), with or without seconds, or RFC 3339.
pub(super) fn parse_local(raw: &str, field: &str) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
    .map(|t| Some(t.and_utc()))
    .ok_or_else(|| {
        ConsoleError(ApiError::invalid(
            field,
            format!("`{raw}` is not a date and time (YYYY-MM-DDTHH:MM:SS, UTC)"),
        ))
    })
}
