//! Invoice reads: an org's invoices, the live current invoice, one invoice
//! (optionally as of a past moment), and the events behind a line.
//!
//! Every response says which event position it reflects; `?min_position=P`
//! waits (bounded) until the projection has folded P, so a client that just
//! ingested usage reads its own writes.

use std::time::Instant;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use ledger::money::Currency;
use ledger::{OrgId, RecordedEvent};
use projections::fold::{Invoice, InvoiceLine, InvoiceStatus, PaymentStatus};
use projections::tables::{Checkpoint, INVOICES};
use projections::views::{invoices_as_of, line_events as events_of_line, AsOf};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{
    org_id, period_start, ApiPath, ApiQuery, Auth, InvoicePath, LinePath, OrgPath,
};
use super::sync_status::SyncState;
use super::AppState;

/// Read-your-writes: wait for a position.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadOptions {
    /// Wait (up to 5 s) until the projection has folded this event position;
    /// 503 if it has not by then.
    #[param(minimum = 0)]
    pub(crate) min_position: Option<i64>,
}

/// The moment to look at: now, or a past one.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceOptions {
    /// Wait (up to 5 s) until the projection has folded this event position;
    /// 503 if it has not by then.
    #[param(minimum = 0)]
    pub(crate) min_position: Option<i64>,
    /// RFC 3339 time: the invoice as the ledger knew it then.
    pub(crate) as_of: Option<DateTime<Utc>>,
    /// Event position: the invoice with events up to it.
    #[param(minimum = 0)]
    pub(crate) as_of_position: Option<i64>,
}

/// The event position a read reflects.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reflects {
    /// Every event up to this position is in the answer.
    pub position: i64,
    /// When the projection folded it.
    pub projected_at: DateTime<Utc>,
}

/// The live checkpoint, after waiting for `min_position` if asked.
pub(super) async fn reflecting(
    state: &AppState,
    min_position: Option<i64>,
) -> Result<Checkpoint, ApiError> {
    if min_position.is_some_and(|p| p < 0) {
        return Err(ApiError::invalid(
            "min_position",
            "min_position must not be negative",
        ));
    }
    let started = Instant::now();
    loop {
        let generation = state.tables.active_generation(INVOICES).await?;
        let checkpoint = state.tables.checkpoint(INVOICES, generation).await?;
        match min_position {
            Some(wanted) if checkpoint.position < wanted => {
                if started.elapsed() >= state.config.read_wait {
                    // The primary knows every position stored: one beyond
                    // its head was never written. A replica may simply
                    // not have received it yet.
                    let head = state.store.head_position().await?;
                    if wanted > head && !state.db.is_read_only() {
                        return Err(ApiError::invalid(
                            "min_position",
                            format!("no event has position {wanted}: the newest stored is {head}"),
                        ));
                    }
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

fn reflects(checkpoint: &Checkpoint) -> Reflects {
    Reflects {
        position: checkpoint.position,
        projected_at: checkpoint.updated_at,
    }
}

/// An invoice in a list (without its lines).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceSummary {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub status: InvoiceStatus,
    /// What Stripe reported about its payment (docs/payments.md).
    pub payment_status: PaymentStatus,
    pub paid_at: Option<DateTime<Utc>>,
    pub currency: Currency,
    pub total: Decimal,
    pub version: i64,
    pub position: i64,
    /// How many lines it has.
    pub lines: usize,
}

fn summary(invoice: &Invoice) -> InvoiceSummary {
    InvoiceSummary {
        period_start: invoice.period_start,
        period_end: invoice.period_end,
        status: invoice.status,
        payment_status: invoice.payment_status,
        paid_at: invoice.paid_at,
        currency: invoice.currency,
        total: invoice.total,
        version: invoice.version,
        position: invoice.position,
        lines: invoice.lines.len(),
    }
}

/// An organization's invoices, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceList {
    pub org_id: OrgId,
    pub reflects: Reflects,
    pub invoices: Vec<InvoiceSummary>,
}

/// One invoice with its lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceRead {
    /// The live projection's position (absent for an as-of read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reflects: Option<Reflects>,
    /// The past moment shown (only for an as-of read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<AsOfMoment>,
    pub invoice: Invoice,
    /// Where it stands in Stripe (live reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncState>,
    /// The month-end forecast (the current invoice only; see docs/pricing.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<projections::Forecast>,
}

/// The moment an as-of read shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct AsOfMoment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
}

pub(crate) async fn readable_org(
    state: &AppState,
    auth: &Auth,
    raw: &str,
) -> Result<OrgId, ApiError> {
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
    operation_id = "list_invoices",
    summary = "An organization's invoices, newest first",
    params(OrgPath, ReadOptions),
    responses(
        (status = 200, description = "OK", body = InvoiceList),
        (status = 503, description = "`min_position` not reached within the wait: retry", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
    ApiQuery(options): ApiQuery<ReadOptions>,
) -> Result<Json<InvoiceList>, ApiError> {
    read_list(&state, &auth, &path.org_id, &options)
        .await
        .map(Json)
}

/// An organization's invoices, newest first (the JSON API and the console).
pub(crate) async fn read_list(
    state: &AppState,
    auth: &Auth,
    raw_org: &str,
    options: &ReadOptions,
) -> Result<InvoiceList, ApiError> {
    let org = readable_org(state, auth, raw_org).await?;
    let checkpoint = reflecting(state, options.min_position).await?;
    let invoices = state.tables.org_invoices(&org).await?;
    Ok(InvoiceList {
        org_id: org,
        reflects: reflects(&checkpoint),
        invoices: invoices.iter().map(summary).collect(),
    })
}

/// `GET /v1/organizations/{org_id}/invoices/current`: the open invoice for
/// the period containing now (else the latest open one), live.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/invoices/current",
    tag = "invoices",
    operation_id = "current_invoice",
    summary = "The open invoice, live",
    params(OrgPath, ReadOptions),
    responses(
        (status = 200, description = "OK", body = InvoiceRead),
        (status = 503, description = "`min_position` not reached within the wait: retry", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn current(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
    ApiQuery(options): ApiQuery<ReadOptions>,
) -> Result<Json<InvoiceRead>, ApiError> {
    read_current(&state, &auth, &path.org_id, &options)
        .await
        .map(Json)
}

/// The open invoice, live (the JSON API and the console).
pub(crate) async fn read_current(
    state: &AppState,
    auth: &Auth,
    raw_org: &str,
    options: &ReadOptions,
) -> Result<InvoiceRead, ApiError> {
    let org = readable_org(state, auth, raw_org).await?;
    let checkpoint = reflecting(state, options.min_position).await?;
    let now = Utc::now();
    let invoices = state.tables.org_invoices(&org).await?;
    let chosen = super::budgets::current_invoice(&invoices, now).ok_or_else(|| {
        ApiError::not_found(format!("organization `{org}` has no open invoice yet"))
    })?;
    let sync =
        super::sync_status::state_of(state, &org, chosen.period_start, chosen.version).await?;
    let forecast = super::budgets::forecast_of(state, chosen, now).await?;
    Ok(InvoiceRead {
        reflects: Some(reflects(&checkpoint)),
        as_of: None,
        invoice: chosen.clone(),
        sync: Some(sync),
        forecast,
    })
}

/// `GET /v1/organizations/{org_id}/invoices/{period_start}` with lines;
/// `?as_of=` or `?as_of_position=` for the invoice as it stood then.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/invoices/{period_start}",
    tag = "invoices",
    operation_id = "get_invoice",
    summary = "One invoice with lines, optionally as of a past moment",
    params(InvoicePath, InvoiceOptions),
    responses(
        (status = 200, description = "OK", body = InvoiceRead),
        (status = 503, description = "`min_position` not reached within the wait: retry", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<InvoicePath>,
    ApiQuery(options): ApiQuery<InvoiceOptions>,
) -> Result<Json<InvoiceRead>, ApiError> {
    read_one(&state, &auth, &path, &options).await.map(Json)
}

/// One invoice, live or as of a past moment (the JSON API and the console).
pub(crate) async fn read_one(
    state: &AppState,
    auth: &Auth,
    path: &InvoicePath,
    options: &InvoiceOptions,
) -> Result<InvoiceRead, ApiError> {
    let org = readable_org(state, auth, &path.org_id).await?;
    let start = period_start(&path.period_start)?;
    let as_of = match (options.as_of, options.as_of_position) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "as_of",
                "give either as_of or as_of_position, not both",
            ))
        }
        (Some(t), None) => Some(AsOf::Time(t)),
        (None, Some(p)) if p < 0 => {
            return Err(ApiError::invalid(
                "as_of_position",
                "as_of_position must not be negative",
            ))
        }
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
        let moment = match as_of {
            AsOf::Time(t) => AsOfMoment {
                time: Some(t),
                position: None,
            },
            AsOf::Position(p) => AsOfMoment {
                time: None,
                position: Some(p),
            },
        };
        return Ok(InvoiceRead {
            reflects: None,
            as_of: Some(moment),
            invoice,
            sync: None,
            forecast: None,
        });
    }
    let checkpoint = reflecting(state, options.min_position).await?;
    let invoice = state.tables.invoice(&org, start).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "organization `{org}` has no invoice for the period starting {start}"
        ))
    })?;
    let sync =
        super::sync_status::state_of(state, &org, invoice.period_start, invoice.version).await?;
    Ok(InvoiceRead {
        reflects: Some(reflects(&checkpoint)),
        as_of: None,
        invoice,
        sync: Some(sync),
        forecast: None,
    })
}

/// Cursor paging.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageOptions {
    /// `next_cursor` of the previous page.
    #[param(minimum = 0)]
    pub(crate) cursor: Option<i64>,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
}

/// The events behind one line.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineEvents {
    pub line: InvoiceLine,
    /// Oldest first; each with who sent it (`metadata`) and when.
    pub events: Vec<RecordedEvent>,
    /// Pass as `?cursor=` for the next page; absent on the last one.
    pub next_cursor: Option<i64>,
}

/// `limit` within 1..=1000, or a 422.
pub(super) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(100),
        Some(limit @ 1..=1_000) => Ok(limit),
        Some(_) => Err(ApiError::invalid("limit", "limit must be 1 to 1000")),
    }
}

/// `GET …/invoices/{period_start}/lines/{line_id}/events`: the events
/// behind one line, oldest first, cursor-paginated.
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/invoices/{period_start}/lines/{line_id}/events",
    tag = "invoices",
    operation_id = "line_events",
    summary = "The events behind one line (provenance)",
    params(LinePath, PageOptions),
    responses(
        (status = 200, description = "OK", body = LineEvents),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn line_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<LinePath>,
    ApiQuery(page): ApiQuery<PageOptions>,
) -> Result<Json<LineEvents>, ApiError> {
    read_line_events(&state, &auth, &path, &page)
        .await
        .map(Json)
}

/// The events behind one line, a page (the JSON API and the console).
pub(crate) async fn read_line_events(
    state: &AppState,
    auth: &Auth,
    path: &LinePath,
    page: &PageOptions,
) -> Result<LineEvents, ApiError> {
    let org = readable_org(state, auth, &path.org_id).await?;
    let start = period_start(&path.period_start)?;
    let limit = page_limit(page.limit)?;
    if page.cursor.is_some_and(|c| c < 0) {
        return Err(ApiError::invalid("cursor", "cursor must not be negative"));
    }
    let invoice = state.tables.invoice(&org, start).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "organization `{org}` has no invoice for the period starting {start}"
        ))
    })?;
    let line = invoice
        .lines
        .iter()
        .find(|l| l.line_id == path.line_id)
        .ok_or_else(|| {
            ApiError::not_found(format!("the invoice has no line `{}`", path.line_id))
        })?;
    let events =
        events_of_line(state.store.as_ref(), &org, &line.source, page.cursor, limit).await?;
    Ok(LineEvents {
        line: line.clone(),
        events: events.items,
        next_cursor: events.next_cursor,
    })
}
