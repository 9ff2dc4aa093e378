//! Invoice reads: an org's invoices, the live current invoice, one invoice
//! (optionally as of a past moment), and the events behind a line.
//!
//! Every response says which event position it reflects; `?min_position=P`
//! waits (bounded) until the projection has folded P, so a client that just
//! ingested usage reads its own writes.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use ledger::OrgId;
use projections::fold::{Invoice, InvoiceStatus};
use projections::tables::{Checkpoint, INVOICES};
use projections::views::{invoices_as_of, line_events as events_of_line, AsOf};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{org_id, ApiQuery, Auth};
use super::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadOptions {
    /// Wait (up to 5 s) until the projection has folded this event position.
    min_position: Option<i64>,
    /// RFC 3339 time: the invoice as the ledger knew it then.
    as_of: Option<DateTime<Utc>>,
    /// Event position: the invoice with events up to it.
    as_of_position: Option<i64>,
}

/// The live checkpoint, after waiting for `min_position` if asked.
pub(super) async fn reflecting(
    state: &AppState,
    min_position: Option<i64>,
) -> Result<Checkpoint, ApiError> {
    let started = Instant::now();
    loop {
        let generation = state.tables.active_generation(INVOICES).await?;
        let checkpoint = state.tables.checkpoint(INVOICES, generation).await?;
        match min_position {
            Some(wanted) if checkpoint.position < wanted => {
                if started.elapsed() >= state.config.read_wait {
                    return Err(ApiError::unavailable(format!(
                        "the invoice projection has reached event position {}, not yet {wanted}; retry shortly",
                        checkpoint.position
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            _ => return Ok(checkpoint),
        }
    }
}

fn reflects(checkpoint: &Checkpoint) -> Value {
    json!({"position": checkpoint.position, "projected_at": checkpoint.updated_at})
}

pub(super) fn period_start(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            ApiError::invalid(
                "period_start",
                format!("`{raw}` is not a date (YYYY-MM-DD) or an RFC 3339 time"),
            )
        })
}

fn summary(invoice: &Invoice) -> Value {
    json!({
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "status": invoice.status,
        "currency": invoice.currency,
        "total": invoice.total,
        "version": invoice.version,
        "position": invoice.position,
        "lines": invoice.lines.len(),
    })
}

async fn readable_org(state: &AppState, auth: &Auth, raw: &str) -> Result<OrgId, ApiError> {
    let org = org_id(raw, "org_id")?;
    auth.read_org(&org)?;
    if state
        .directory
        .org(state.store.as_ref(), &org)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "organization `{org}` is not registered"
        )));
    }
    Ok(org)
}

/// `GET /v1/organizations/{org_id}/invoices`: newest first.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/invoices",
    tag = "invoices",
    summary = "An organization's invoices, newest first",
    params(("org_id" = String, Path, description = "The platform's organization id"), ReadOptions),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiQuery(options): ApiQuery<ReadOptions>,
) -> Result<Json<Value>, ApiError> {
    let org = readable_org(&state, &auth, &raw).await?;
    let checkpoint = reflecting(&state, options.min_position).await?;
    let invoices = state.tables.org_invoices(&org).await?;
    Ok(Json(json!({
        "org_id": org,
        "reflects": reflects(&checkpoint),
        "invoices": invoices.iter().map(summary).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/organizations/{org_id}/invoices/current`: the open invoice for
/// the period containing now (else the latest open one), live.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/invoices/current",
    tag = "invoices",
    summary = "The open invoice, live",
    params(("org_id" = String, Path, description = "The platform's organization id"), ReadOptions),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn current(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiQuery(options): ApiQuery<ReadOptions>,
) -> Result<Json<Value>, ApiError> {
    let org = readable_org(&state, &auth, &raw).await?;
    let checkpoint = reflecting(&state, options.min_position).await?;
    let now = Utc::now();
    let invoices = state.tables.org_invoices(&org).await?;
    let open = invoices.iter().filter(|i| i.status == InvoiceStatus::Open);
    let chosen = open
        .clone()
        .find(|i| i.period_start <= now && now < i.period_end)
        .or_else(|| open.max_by_key(|i| i.period_start))
        .ok_or_else(|| {
            ApiError::not_found(format!("organization `{org}` has no open invoice yet"))
        })?;
    let sync =
        super::sync_status::state_of(&state, &org, chosen.period_start, chosen.version).await?;
    Ok(Json(
        json!({"reflects": reflects(&checkpoint), "invoice": chosen, "sync": sync}),
    ))
}

/// `GET /v1/organizations/{org_id}/invoices/{period_start}` with lines;
/// `?as_of=` or `?as_of_position=` for the invoice as it stood then.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/invoices/{period_start}",
    tag = "invoices",
    summary = "One invoice with lines, optionally as of a past moment",
    params(("org_id" = String, Path, description = "The platform's organization id"), ("period_start" = String, Path, description = "Period start: YYYY-MM-DD or RFC 3339"), ReadOptions),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    auth: Auth,
    Path((raw, start)): Path<(String, String)>,
    ApiQuery(options): ApiQuery<ReadOptions>,
) -> Result<Json<Value>, ApiError> {
    let org = readable_org(&state, &auth, &raw).await?;
    let start = period_start(&start)?;
    let as_of = match (options.as_of, options.as_of_position) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either as_of or as_of_position, not both",
            ))
        }
        (Some(t), None) => Some(AsOf::Time(t)),
        (None, Some(p)) => Some(AsOf::Position(p)),
        (None, None) => None,
    };
    if let Some(as_of) = as_of {
        let invoices = invoices_as_of(state.store.as_ref(), &org, as_of).await?;
        let invoice = invoices
            .into_iter()
            .find(|i| i.period_start == start)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "organization `{org}` had no invoice for {start} at that moment"
                ))
            })?;
        let as_of = match as_of {
            AsOf::Time(t) => json!({"time": t}),
            AsOf::Position(p) => json!({"position": p}),
        };
        return Ok(Json(json!({"as_of": as_of, "invoice": invoice})));
    }
    let checkpoint = reflecting(&state, options.min_position).await?;
    let invoice = state.tables.invoice(&org, start).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "organization `{org}` has no invoice for the period starting {start}"
        ))
    })?;
    let sync =
        super::sync_status::state_of(&state, &org, invoice.period_start, invoice.version).await?;
    Ok(Json(
        json!({"reflects": reflects(&checkpoint), "invoice": invoice, "sync": sync}),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageOptions {
    cursor: Option<i64>,
    limit: Option<u32>,
}

/// `GET …/invoices/{period_start}/lines/{line_id}/events`: the events
/// behind one line, oldest first, cursor-paginated.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/invoices/{period_start}/lines/{line_id}/events",
    tag = "invoices",
    summary = "The events behind one line (provenance)",
    params(("org_id" = String, Path, description = "The platform's organization id"), ("period_start" = String, Path, description = "Period start: YYYY-MM-DD or RFC 3339"), ("line_id" = String, Path, description = "A line id of the invoice"), PageOptions),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn line_events(
    State(state): State<AppState>,
    auth: Auth,
    Path((raw, start, line_id)): Path<(String, String, String)>,
    ApiQuery(page): ApiQuery<PageOptions>,
) -> Result<Json<Value>, ApiError> {
    let org = readable_org(&state, &auth, &raw).await?;
    let start = period_start(&start)?;
    let invoice = state.tables.invoice(&org, start).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "organization `{org}` has no invoice for the period starting {start}"
        ))
    })?;
    let line = invoice
        .lines
        .iter()
        .find(|l| l.line_id == line_id)
        .ok_or_else(|| ApiError::not_found(format!("the invoice has no line `{line_id}`")))?;
    let limit = page.limit.unwrap_or(100).clamp(1, 1_000);
    let events =
        events_of_line(state.store.as_ref(), &org, &line.source, page.cursor, limit).await?;
    Ok(Json(json!({
        "line": line,
        "events": events.items,
        "next_cursor": events.next_cursor,
    })))
}
