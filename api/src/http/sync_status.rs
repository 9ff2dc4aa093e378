//! The Stripe sync as the API shows it: per-invoice state on invoice reads,
//! and operators' list and retry of parked invoices.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use ledger::OrgId;
use serde::Deserialize;
use serde_json::{json, Value};
use sync::state::SyncRow;
use sync::status::{invoice_sync_status, list_sync_status, retry_parked, summary, StatusFilter};

use super::error::ApiError;
use super::extract::{org_id, ApiQuery, Auth};
use super::AppState;
use crate::tokens::Role;

fn at(millis: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(millis).single()
}

/// What a developer should read about the invoice's life in Stripe.
pub fn describe(row: Option<&SyncRow>, ledger_version: i64) -> Value {
    let Some(row) = row else {
        return json!({"state": "not_in_stripe", "message": "not yet in Stripe"});
    };
    if row.parked || (row.attempts > 0 && row.last_error.is_some()) {
        let since = at(row.updated_at);
        return json!({
            "state": "failing",
            "parked": row.parked,
            "since": since,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "published_version": row.published_version,
            "message": format!(
                "Stripe sync failing since {}{}",
                since.map_or_else(|| "?".into(), |t| t.to_rfc3339()),
                if row.parked { " (parked: an operator must retry it)" } else { " (retrying)" }
            ),
        });
    }
    if row.published_version == 0 {
        return json!({"state": "not_in_stripe", "message": "not yet in Stripe", "queued": true});
    }
    let behind = row.published_version < ledger_version;
    json!({
        "state": "in_stripe",
        "published_version": row.published_version,
        "stripe_invoice_id": row.stripe_invoice_id,
        "stripe_status": row.stripe_status,
        "published_at": row.last_published_at.and_then(at),
        "message": if behind {
            format!("in Stripe as of version {} (the ledger is at version {ledger_version})", row.published_version)
        } else {
            format!("in Stripe as of version {}", row.published_version)
        },
    })
}

/// The sync state of one invoice for a read.
pub async fn state_of(
    state: &AppState,
    org: &OrgId,
    period_start: DateTime<Utc>,
    version: i64,
) -> Result<Value, ApiError> {
    let row = invoice_sync_status(&state.db, org, period_start)
        .await
        .map_err(ApiError::internal)?;
    Ok(describe(row.as_ref(), version))
}

fn view(row: &SyncRow) -> Value {
    json!({
        "org_id": row.org_id,
        "period_start": row.period_start,
        "ledger_status": row.ledger_status,
        "ledger_version": row.target_version,
        "published_version": row.published_version,
        "stripe_customer_id": row.stripe_customer_id,
        "stripe_invoice_id": row.stripe_invoice_id,
        "stripe_status": row.stripe_status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "parked": row.parked,
        "finalized_in_stripe": row.terminal_done,
        "last_published_at": row.last_published_at.and_then(at),
        "updated_at": at(row.updated_at),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SyncFilter {
    org: Option<String>,
    /// Only parked invoices.
    #[serde(default)]
    parked: bool,
    /// Only invoices Stripe has not caught up with.
    #[serde(default)]
    pending: bool,
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/ops/sync",
    tag = "ops",
    summary = "Stripe sync status per invoice, and totals (admin)",
    params(SyncFilter),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(filter): ApiQuery<SyncFilter>,
) -> Result<Json<Value>, ApiError> {
    auth.require(&[Role::Admin])?;
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
            limit: Some(filter.limit.unwrap_or(100).clamp(1, 1_000)),
        },
    )
    .await
    .map_err(ApiError::internal)?;
    let totals = summary(&state.db).await.map_err(ApiError::internal)?;
    // Only the process that runs the sync knows Stripe's availability.
    let stripe = state.stripe.as_ref().map(|breaker| {
        let health = breaker.health();
        json!({
            "available": health.available,
            "message": health.message(),
            "unavailable_since": health.unavailable_since,
            "last_error": health.last_error,
        })
    });
    Ok(Json(json!({
        "summary": totals,
        "stripe": stripe,
        "invoices": rows.iter().map(view).collect::<Vec<_>>(),
    })))
}

#[utoipa::path(
    post,
    path = "/v1/ops/sync/{org_id}/{period_start}/retry",
    tag = "ops",
    summary = "Put a parked invoice back in the sync queue (admin)",
    params(("org_id" = String, Path, description = "Organization"), ("period_start" = String, Path, description = "Period start: YYYY-MM-DD or RFC 3339")),
    responses((status = 200, description = "Queued again", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    auth: Auth,
    Path((raw, start)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require(&[Role::Admin])?;
    let org = org_id(&raw, "org_id")?;
    let start = super::invoices::period_start(&start)?;
    if retry_parked(&state.db, &org, start)
        .await
        .map_err(ApiError::internal)?
    {
        Ok(Json(
            json!({"retried": true, "org_id": org, "period_start": start}),
        ))
    } else {
        Err(ApiError::conflict(format!(
            "the invoice of `{org}` for {start} is not parked"
        )))
    }
}
