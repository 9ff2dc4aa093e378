//! Correcting or voiding recorded usage (see [`crate::commands::corrections`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ledger::LedgerEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{actor, org_id, ApiJson, ApiPath, Auth};
use super::AppState;
use crate::commands::corrections::{self, CorrectionRequest};
use crate::tokens::Role;

/// `{org_id}` and a usage event's `{event_id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UsageEventPath {
    #[param(
        min_length = 1,
        max_length = 150,
        pattern = "^[A-Za-z0-9._~:@-]+$",
        example = "acme"
    )]
    org_id: String,
    /// The `UsageRecorded` event's id.
    #[param(value_type = String, format = Uuid)]
    event_id: uuid::Uuid,
}

/// The correction (or void) stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionStored {
    /// `UsageCorrected` or `UsageVoided`, with the quantity in force before it.
    pub event: LedgerEvent,
    pub position: i64,
}

#[utoipa::path(
    post,
    path = "/v1/organizations/{org_id}/usage/{event_id}/corrections",
    tag = "ingestion",
    operation_id = "correct_usage",
    summary = "Correct or void a recorded usage event (admin)",
    params(UsageEventPath),
    request_body = CorrectionRequest,
    responses(
        (status = 201, description = "Stored", body = CorrectionStored),
        (status = 409, description = "Already voided, or corrected at the same moment: read it again and retry", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn correct(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<UsageEventPath>,
    ApiJson(request): ApiJson<CorrectionRequest>,
) -> Result<(StatusCode, Json<CorrectionStored>), ApiError> {
    let principal = auth.require(&[Role::Admin])?;
    let org = org_id(&path.org_id, "org_id")?;
    let actor = actor(principal, "/v1/usage/corrections");
    let stored = corrections::correct(&state.ctx(), &actor, &org, path.event_id, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(CorrectionStored {
            event: stored.event,
            position: stored.position,
        }),
    ))
}
