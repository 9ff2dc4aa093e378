//! The Stripe sync as the API shows it: per-invoice state on invoice reads,
//! and operators' list and retry of parked invoices.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use ledger::OrgId;
use serde::{Deserialize, Serialize};
use sync::state::SyncRow;
use sync::status::{invoice_sync_status, list_sync_status, retry_parked, summary, StatusFilter};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{org_id, ApiPath, ApiQuery, Auth, InvoicePath};
use super::AppState;
use crate::tokens::Role;

fn at(millis: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(millis).single()
}

/// Where an invoice stands in Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// Not published yet (a draft waits for the sync's cadence).
    NotInStripe,
    /// Publishing fails (retrying, or parked for an operator).
    Failing,
    /// Stripe holds a published version.
    InStripe,
}

/// What a developer should read about the invoice's life in Stripe.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncState {
    pub state: SyncPhase,
    /// One line for people.
    pub message: String,
    /// Queued for publishing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parked: Option<bool>,
    /// Failing since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_invoice_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
}

impl SyncState {
    fn phase(state: SyncPhase, message: String) -> Self {
        Self {
            state,
            message,
            queued: None,
            parked: None,
            since: None,
            attempts: None,
            last_error: None,
            published_version: None,
            stripe_invoice_id: None,
            stripe_status: None,
            published_at: None,
        }
    }
}

/// What a developer should read about the invoice's life in Stripe.
pub fn describe(row: Option<&SyncRow>, ledger_version: i64) -> SyncState {
    let Some(row) = row else {
        return SyncState::phase(SyncPhase::NotInStripe, "not yet in Stripe".into());
    };
    if row.parked || (row.attempts > 0 && row.last_error.is_some()) {
        let since = at(row.updated_at);
        let message = format!(
            "Stripe sync failing since {}{}",
            since.map_or_else(|| "?".into(), |t| t.to_rfc3339()),
            if row.parked {
                " (parked: an operator must retry it)"
            } else {
                " (retrying)"
            }
        );
        return SyncState {
            parked: Some(row.parked),
            since,
            attempts: Some(row.attempts),
            last_error: row.last_error.clone(),
            published_version: Some(row.published_version),
            ..SyncState::phase(SyncPhase::Failing, message)
        };
    }
    if row.published_version == 0 {
        return SyncState {
            queued: Some(true),
            ..SyncState::phase(SyncPhase::NotInStripe, "not yet in Stripe".into())
        };
    }
    let message = if row.published_version < ledger_version {
        format!(
            "in Stripe as of version {} (the ledger is at version {ledger_version})",
            row.published_version
        )
    } else {
        format!("in Stripe as of version {}", row.published_version)
    };
    SyncState {
        published_version: Some(row.published_version),
        stripe_invoice_id: row.stripe_invoice_id.clone(),
        stripe_status: row.stripe_status.clone(),
        published_at: row.last_published_at.and_then(at),
        ..SyncState::phase(SyncPhase::InStripe, message)
    }
}

/// The sync state of one invoice for a read.
pub async fn state_of(
    state: &AppState,
    org: &OrgId,
    period_start: DateTime<Utc>,
    version: i64,
) -> Result<SyncState, ApiError> {
    let row = invoice_sync_status(&state.db, org, period_start).await?;
    Ok(describe(row.as_ref(), version))
}

/// One invoice's sync row, for operators.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncView {
    pub org_id: String,
    /// The period start, fixed-width UTC.
    pub period_start: String,
    pub ledger_status: String,
    pub ledger_version: i64,
    pub published_version: i64,
    pub stripe_customer_id: Option<String>,
    pub stripe_invoice_id: Option<String>,
    pub stripe_status: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub parked: bool,
    pub finalized_in_stripe: bool,
    pub last_published_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

fn view(row: &SyncRow) -> SyncView {
    SyncView {
        org_id: row.org_id.clone(),
        period_start: row.period_start.clone(),
        ledger_status: row.ledger_status.clone(),
        ledger_version: row.target_version,
        published_version: row.published_version,
        stripe_customer_id: row.stripe_customer_id.clone(),
        stripe_invoice_id: row.stripe_invoice_id.clone(),
        stripe_status: row.stripe_status.clone(),
        attempts: row.attempts,
        last_error: row.last_error.clone(),
        parked: row.parked,
        finalized_in_stripe: row.terminal_done,
        last_published_at: row.last_published_at.and_then(at),
        updated_at: at(row.updated_at),
    }
}

/// Stripe's availability as the sync in this process sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StripeAvailability {
    pub available: bool,
    /// `Stripe available` or `Stripe unavailable since …`.
    pub message: String,
    pub unavailable_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Counts of the sync queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncTotals {
    pub invoices: i64,
    pub final_pending: i64,
    pub drafts_behind: i64,
    pub parked: i64,
    pub retrying: i64,
    pub cursor: i64,
    pub checkpoint: i64,
}

/// The sync, for operators.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncList {
    pub summary: SyncTotals,
    /// Null where this process runs no sync.
    pub stripe: Option<StripeAvailability>,
    pub invoices: Vec<SyncView>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SyncFilter {
    /// Only this organization.
    #[param(min_length = 1, max_length = 150, pattern = "^[A-Za-z0-9._~:@-]+$")]
    pub(crate) org: Option<String>,
    /// Only parked invoices.
    #[serde(default)]
    pub(crate) parked: bool,
    /// Only invoices Stripe has not caught up with.
    #[serde(default)]
    pub(crate) pending: bool,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/ops/sync",
    tag = "ops",
    operation_id = "sync_status",
    summary = "Stripe sync status per invoice, and totals (admin)",
    params(SyncFilter),
    responses(
        (status = 200, description = "OK", body = SyncList),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(filter): ApiQuery<SyncFilter>,
) -> Result<Json<SyncList>, ApiError> {
    read_sync(&state, &auth, &filter).await.map(Json)
}

/// The sync's queue and totals, for operators (the JSON API and the console).
pub(crate) async fn read_sync(
    state: &AppState,
    auth: &Auth,
    filter: &SyncFilter,
) -> Result<SyncList, ApiError> {
    auth.require(&[Role::Admin])?;
    let limit = match filter.limit {
        None => 100,
        Some(limit @ 1..=1_000) => limit,
        Some(_) => return Err(ApiError::invalid("limit", "limit must be 1 to 1000")),
    };
    let org = filter
        .org
        .as_deref()
        .map(|o| org_id(o, "org"))
        .transpose()?;
    let rows = list_sync_status(
        &state.db,
        &StatusFilter {
            org,
            parked_only: filter.parked,
            pending_only: filter.pending,
            limit: Some(limit),
        },
    )
    .await?;
    let totals = summary(&state.db).await?;
    // Only the process that runs the sync knows Stripe's availability.
    let stripe = state.stripe.as_ref().map(|breaker| {
        let health = breaker.health();
        StripeAvailability {
            message: health.message(),
            available: health.available,
            unavailable_since: health.unavailable_since,
            last_error: health.last_error,
        }
    });
    Ok(SyncList {
        summary: SyncTotals {
            invoices: totals.invoices,
            final_pending: totals.final_pending,
            drafts_behind: totals.drafts_behind,
            parked: totals.parked,
            retrying: totals.retrying,
            cursor: totals.cursor,
            checkpoint: totals.checkpoint,
        },
        stripe,
        invoices: rows.iter().map(view).collect(),
    })
}

/// A parked invoice back in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    pub retried: bool,
    pub org_id: OrgId,
    pub period_start: DateTime<Utc>,
}

#[utoipa::path(
    post,
    path = "/v1/ops/sync/{org_id}/{period_start}/retry",
    tag = "ops",
    operation_id = "retry_sync",
    summary = "Put a parked invoice back in the sync queue (admin)",
    params(InvoicePath),
    responses(
        (status = 200, description = "Queued again", body = Retried),
        (status = 409, description = "Not parked", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<InvoicePath>,
) -> Result<Json<Retried>, ApiError> {
    retry_one(&state, &auth, &path).await.map(Json)
}

/// Put a parked invoice back in the queue (the JSON API and the console).
pub(crate) async fn retry_one(
    state: &AppState,
    auth: &Auth,
    path: &InvoicePath,
) -> Result<Retried, ApiError> {
    auth.require(&[Role::Admin])?;
    let (org, start) = path.invoice()?;
    if retry_parked(&state.db, &org, start).await? {
        Ok(Retried {
            retried: true,
            org_id: org,
            period_start: start,
        })
    } else {
        Err(ApiError::conflict(format!(
            "the invoice of `{org}` for {start} is not parked"
        )))
    }
}
