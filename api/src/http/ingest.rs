//! Ingestion: batched usage with per-item results; charges, credits and
//! subscriptions for one organization. Handlers parse, authorise and
//! delegate to [`crate::commands`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ledger::event::{ChargeAdded, CreditGranted};
use ledger::LedgerEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::extract::{actor, ApiJson, ApiPath, ApiQuery, Auth, OrgPath};
use super::AppState;
use crate::commands::entries::{self, Appended, EntryKind, MoneyEntry};
use crate::commands::subscriptions::{self, SubscriptionRequest};
use crate::commands::usage::{self, ItemResult, Recorded, UsageRecord};
use crate::commands::FieldError;
use crate::tokens::Role;

/// A batch of usage records.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    /// 1 to 5,000 records (`BILLING_MAX_BATCH`); each is checked on its own.
    #[schema(value_type = Vec<UsageRecord>, min_items = 1, max_items = 5000)]
    records: Vec<Box<RawValue>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IngestOptions {
    /// Reject the whole batch (store nothing) if any record is rejected.
    #[serde(default)]
    atomic: bool,
}

/// An atomic batch with a rejected record: nothing was stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRejected {
    pub error: ErrorDetail,
    /// Always false.
    pub stored: bool,
    pub rejected: usize,
    /// The rejected records, with their reasons.
    pub results: Vec<ItemResult>,
}

/// `POST /v1/usage` (ingest, admin).
#[utoipa::path(
    post,
    path = "/v1/usage",
    tag = "ingestion",
    operation_id = "post_usage",
    summary = "Append a batch of usage records (ingest)",
    params(IngestOptions),
    request_body = UsageBatch,
    responses(
        (status = 200, description = "Per-record results: accepted, duplicate or rejected", body = Recorded),
        (status = 422, description = "Nothing stored: every record was rejected, or `?atomic=true` and one was", body = BatchRejected),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn post_usage(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(options): ApiQuery<IngestOptions>,
    ApiJson(batch): ApiJson<UsageBatch>,
) -> Result<Response, ApiError> {
    let principal = auth.require(&[Role::Ingest])?;
    let max = state.config.max_batch;
    if batch.records.is_empty() || batch.records.len() > max {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("send 1 to {max} records per batch"),
        )
        .with_field("records"));
    }
    let items = batch
        .records
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            // Most records are valid: parse them plainly, and only a record
            // that fails again with its path tracked, to name the field.
            if let Ok(record) = serde_json::from_str::<UsageRecord>(raw.get()) {
                return Ok(record);
            }
            let mut json = serde_json::Deserializer::from_str(raw.get());
            serde_path_to_error::deserialize::<_, UsageRecord>(&mut json).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    format!("records[{i}]")
                } else {
                    format!("records[{i}].{path}")
                };
                let message = format!("{path}: {}", e.into_inner());
                FieldError::new(field, message)
            })
        })
        .collect();
    let recorded = usage::record(
        &state.ctx(),
        &actor(principal, "/v1/usage"),
        items,
        options.atomic,
    )
    .await?;
    state.metrics.usage("accepted", recorded.accepted as u64);
    state.metrics.usage("duplicate", recorded.duplicates as u64);
    state.metrics.usage("rejected", recorded.rejected as u64);
    // Nothing stored because records were rejected: an atomic batch with a
    // rejection, or a batch whose every record was rejected.
    let all_rejected = recorded.rejected == batch.records.len();
    if (options.atomic && recorded.rejected > 0) || all_rejected {
        let why = if all_rejected && !options.atomic {
            "every record was rejected, so nothing was stored"
        } else {
            "so nothing was stored (?atomic=true)"
        };
        let body = BatchRejected {
            error: ErrorDetail {
                code: "batch_rejected".into(),
                message: format!(
                    "{} of {} records were rejected, {why}; see results",
                    recorded.rejected,
                    batch.records.len()
                ),
                field: Some("records".into()),
            },
            stored: false,
            rejected: recorded.rejected,
            results: recorded.results,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
    }
    Ok((StatusCode::OK, Json(recorded)).into_response())
}

/// Whether a write stored something or recognised a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteStatus {
    /// Stored now (201).
    Accepted,
    /// Stored before: nothing was written (200).
    Duplicate,
}

/// A stored (or recognised) charge.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeStored {
    pub status: WriteStatus,
    pub position: i64,
    pub charge: ChargeAdded,
}

/// A stored (or recognised) credit.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditStored {
    pub status: WriteStatus,
    pub position: i64,
    pub credit: CreditGranted,
}

/// A stored (or recognised) subscription event.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionStored {
    pub status: WriteStatus,
    pub position: i64,
    /// `SubscriptionStarted`, `SubscriptionChanged` or `SubscriptionCancelled`, with its payload.
    pub event: LedgerEvent,
}

fn status_of(appended: &Appended) -> (StatusCode, WriteStatus) {
    if appended.duplicate {
        (StatusCode::OK, WriteStatus::Duplicate)
    } else {
        (StatusCode::CREATED, WriteStatus::Accepted)
    }
}

/// `POST /v1/organizations/{org_id}/charges` (admin). Retrying with the
/// same `id` stores nothing twice.
#[utoipa::path(
    post,
    path = "/v1/organizations/{org_id}/charges",
    tag = "ingestion",
    operation_id = "post_charge",
    summary = "Add a one-off charge (admin)",
    params(OrgPath),
    request_body = MoneyEntry,
    responses(
        (status = 201, description = "Stored", body = ChargeStored),
        (status = 200, description = "A retry of a stored charge (same id): nothing written", body = ChargeStored),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn post_charge(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
    ApiJson(entry): ApiJson<MoneyEntry>,
) -> Result<(StatusCode, Json<ChargeStored>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let org = path.org()?;
    let actor = actor(principal, "/v1/charges");
    let appended = entries::add(&state.ctx(), &actor, &org, EntryKind::Charge, entry).await?;
    let (code, status) = status_of(&appended);
    let LedgerEvent::ChargeAdded(charge) = appended.event else {
        return Err(ApiError::internal("a charge appended another event"));
    };
    Ok((
        code,
        Json(ChargeStored {
            status,
            position: appended.position,
            charge,
        }),
    ))
}

/// `POST /v1/organizations/{org_id}/credits` (admin).
#[utoipa::path(
    post,
    path = "/v1/organizations/{org_id}/credits",
    tag = "ingestion",
    operation_id = "post_credit",
    summary = "Grant a credit (admin)",
    params(OrgPath),
    request_body = MoneyEntry,
    responses(
        (status = 201, description = "Stored", body = CreditStored),
        (status = 200, description = "A retry of a stored credit (same id): nothing written", body = CreditStored),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn post_credit(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
    ApiJson(entry): ApiJson<MoneyEntry>,
) -> Result<(StatusCode, Json<CreditStored>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let org = path.org()?;
    let actor = actor(principal, "/v1/credits");
    let appended = entries::add(&state.ctx(), &actor, &org, EntryKind::Credit, entry).await?;
    let (code, status) = status_of(&appended);
    let LedgerEvent::CreditGranted(credit) = appended.event else {
        return Err(ApiError::internal("a credit appended another event"));
    };
    Ok((
        code,
        Json(CreditStored {
            status,
            position: appended.position,
            credit,
        }),
    ))
}

/// `POST /v1/organizations/{org_id}/subscriptions` (admin): start, change
/// or cancel a plan (`"action"`), effective now or at `effective_at`.
#[utoipa::path(
    post,
    path = "/v1/organizations/{org_id}/subscriptions",
    tag = "ingestion",
    operation_id = "post_subscription",
    summary = "Start, change or cancel a plan (admin)",
    params(OrgPath),
    request_body = SubscriptionRequest,
    responses(
        (status = 201, description = "Stored", body = SubscriptionStored),
        (status = 200, description = "A retry (or a change to what the plan already is): nothing written", body = SubscriptionStored),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn post_subscription(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
    ApiJson(request): ApiJson<SubscriptionRequest>,
) -> Result<(StatusCode, Json<SubscriptionStored>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let org = path.org()?;
    let actor = actor(principal, "/v1/subscriptions");
    let appended = subscriptions::apply(&state.ctx(), &actor, &org, request).await?;
    let (code, status) = status_of(&appended);
    Ok((
        code,
        Json(SubscriptionStored {
            status,
            position: appended.position,
            event: appended.event,
        }),
    ))
}
