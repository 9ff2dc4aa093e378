//! Correcting or voiding recorded usage: a later event, never a mutation.
//!
//! Each usage event's corrections form their own stream
//! (`usage-correction-<event id>`), appended with its expected version, so
//! two corrections racing each other cannot both compute their delta from
//! the same "quantity in force": the loser gets a 409 and retries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ledger::event::{UsageCorrected, UsageVoided};
use ledger::money::Quantity;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, StoreError, StreamId};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::catalog::metadata;
use super::error::ApiError;
use super::extract::{org_id, ApiJson, Auth};
use super::AppState;
use crate::tokens::Role;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum CorrectionRequest {
    /// Replace the usage's quantity (a decimal string).
    Correct { quantity: String, reason: String },
    /// Cancel the usage.
    Void { reason: String },
}

#[utoipa::path(
    post,
    path = "/v1/organizations/{org_id}/usage/{event_id}/corrections",
    tag = "ingestion",
    summary = "Correct or void a recorded usage event (admin)",
    params(("org_id" = String, Path, description = "Organization"), ("event_id" = String, Path, description = "The UsageRecorded event's id")),
    request_body = CorrectionRequest,
    responses((status = 201, description = "Stored", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn correct(
    State(state): State<AppState>,
    auth: Auth,
    Path((raw_org, raw_event)): Path<(String, String)>,
    ApiJson(request): ApiJson<CorrectionRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let org = org_id(&raw_org, "org_id")?;
    let event_id = Uuid::parse_str(&raw_event)
        .map_err(|_| ApiError::invalid("event_id", format!("`{raw_event}` is not a UUID")))?;
    let reason = match &request {
        CorrectionRequest::Correct { reason, .. } | CorrectionRequest::Void { reason } => {
            reason.trim().to_owned()
        }
    };
    if reason.is_empty() || reason.len() > 500 {
        return Err(ApiError::invalid(
            "reason",
            "say why, in 1 to 500 characters (support will read it)",
        ));
    }
    let original = state.store.event_by_id(event_id).await?;
    let usage = match original.as_ref().map(|e| (e, e.decode())) {
        Some((e, Ok(LedgerEvent::UsageRecorded(u)))) if u.org_id == org => (e.occurred_at, u),
        _ => {
            return Err(ApiError::not_found(format!(
                "organization `{org}` has no usage event {event_id}"
            )))
        }
    };
    let (occurred_at, recorded) = usage;
    let stream =
        StreamId::new(format!("usage-correction-{event_id}")).map_err(ApiError::internal)?;
    let history = state.store.read_stream(&stream, 1, 10_000).await?;
    let version = history.last().map_or(0, |e| e.stream_version);
    let previous = match history.last().map(|e| e.decode()) {
        None => recorded.quantity,
        Some(Ok(LedgerEvent::UsageCorrected(c))) => c.quantity,
        Some(Ok(LedgerEvent::UsageVoided(_))) => {
            return Err(ApiError::conflict(format!(
                "usage event {event_id} is already voided"
            )))
        }
        Some(_) => return Err(ApiError::internal(format!("unexpected event in {stream}"))),
    };
    let event = match request {
        CorrectionRequest::Correct { quantity, .. } => {
            let quantity: Quantity = quantity.parse().map_err(|e: ledger::money::ValueError| {
                ApiError::invalid("quantity", e.to_string())
            })?;
            LedgerEvent::UsageCorrected(UsageCorrected {
                org_id: org.clone(),
                usage_event_id: event_id,
                meter: recorded.meter.clone(),
                usage_occurred_at: occurred_at,
                previous_quantity: previous,
                quantity,
                reason,
            })
        }
        CorrectionRequest::Void { .. } => LedgerEvent::UsageVoided(UsageVoided {
            org_id: org.clone(),
            usage_event_id: event_id,
            meter: recorded.meter.clone(),
            usage_occurred_at: occurred_at,
            previous_quantity: previous,
            reason,
        }),
    };
    // The corrected usage's own time, so provenance and audit windows find
    // a usage event and its corrections together.
    let new = NewEvent::from_domain(&event, occurred_at)
        .map_err(ApiError::internal)?
        .with_metadata(metadata(principal, "/v1/usage/corrections"));
    match state
        .store
        .append(&stream, ExpectedVersion::Exact(version), vec![new])
        .await
    {
        Ok(outcome) => {
            let position = outcome.results.first().map(|r| r.global_position());
            Ok((
                StatusCode::CREATED,
                Json(json!({"event": event, "position": position})),
            ))
        }
        Err(StoreError::Conflict { .. }) => Err(ApiError::conflict(format!(
            "usage event {event_id} was corrected at the same time; read it again and retry"
        ))),
        Err(other) => Err(other.into()),
    }
}
