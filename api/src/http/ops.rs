//! Operations: health, readiness, projection lag, rebuilds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use projections::rebuild::rebuild;
use projections::tables::INVOICES;
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::Auth;
use super::AppState;
use crate::tokens::Role;

/// The rebuild started through the API, if any.
#[derive(Debug, Default)]
pub struct OpsState {
    rebuild: Mutex<Option<RebuildStatus>>,
}

/// Where a rebuild started through the API stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RebuildState {
    Running,
    Finished,
    Failed,
}

/// A rebuild's progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RebuildStatus {
    state: RebuildState,
    started_at: DateTime<Utc>,
    position: i64,
    head: i64,
    finished_at: Option<DateTime<Utc>>,
    generation: Option<i64>,
    checksum: Option<String>,
    error: Option<String>,
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    summary = "Liveness",
    operation_id = "healthz",
    responses((status = 200, description = "OK", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// The process is up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Whether the process can serve.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /readyz`: the database answers and the schema is migrated.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    summary = "Readiness: database reachable and migrated",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Database unreachable or not migrated", body = Readiness)
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    match state.tables.active_generation(INVOICES).await {
        Ok(_) => (
            StatusCode::OK,
            Json(Readiness {
                status: "ready".into(),
                reason: None,
            }),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Readiness {
                    status: "unavailable".into(),
                    reason: Some("database unreachable or not migrated".into()),
                }),
            )
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the API lives under /v1 (see GET /v1/openapi.json)")
}

/// `GET /v1/ops/projections` (admin): checkpoint and lag of each projection.
#[utoipa::path(
    get,
    path = "/v1/ops/projections",
    tag = "ops",
    operation_id = "projections",
    summary = "Projection checkpoints and lag (admin)",
    responses(
        (status = 200, description = "OK", body = ProjectionsStatus),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn projections(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<ProjectionsStatus>, ApiError> {
    read_projections(&state, &auth).await.map(Json)
}

/// Each projection's checkpoint and lag (the JSON API and the console).
pub(crate) async fn read_projections(
    state: &AppState,
    auth: &Auth,
) -> Result<ProjectionsStatus, ApiError> {
    auth.require(&[Role::Admin])?;
    let generation = state.tables.active_generation(INVOICES).await?;
    let checkpoint = state.tables.checkpoint(INVOICES, generation).await?;
    let head = state.store.head_position().await?;
    let behind = state.store.read_all(checkpoint.position, 1).await?;
    let seconds_behind = behind.first().map_or(0, |oldest| {
        (Utc::now() - oldest.recorded_at).num_seconds().max(0)
    });
    let parked = state.tables.parked(INVOICES).await?;
    let unclosed = state.tables.close_failures().await?;
    Ok(ProjectionsStatus {
        projections: vec![ProjectionStatus {
            name: INVOICES.to_owned(),
            generation,
            position: checkpoint.position,
            head,
            events_behind: (head - checkpoint.position).max(0),
            seconds_behind,
            updated_at: checkpoint.updated_at,
        }],
        parked_organizations: parked
            .into_iter()
            .map(|p| ParkedOrganization {
                org_id: p.org_id,
                position: p.position,
                error: p.error,
                parked_at: p.parked_at,
            })
            .collect(),
        unclosed_invoices: unclosed
            .into_iter()
            .map(|f| UnclosedInvoice {
                org_id: f.org_id,
                period_start: f.period_start,
                error: f.error,
                attempts: f.attempts,
                first_failed_at: f.first_failed_at,
                last_failed_at: f.last_failed_at,
            })
            .collect(),
    })
}

/// Each projection's progress, and what it has set aside.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionsStatus {
    pub projections: Vec<ProjectionStatus>,
    /// Organizations the live invoice projection cannot fold: their
    /// invoices stay as last folded and are not finalized, while every
    /// other organization carries on. Fix the cause, then rebuild
    /// (`POST /v1/ops/rebuild`): the new generation folds them again.
    pub parked_organizations: Vec<ParkedOrganization>,
    /// Invoices the period closer failed to finalize on its last passes
    /// (it tries again every pass; every other invoice is finalized).
    pub unclosed_invoices: Vec<UnclosedInvoice>,
}

/// An organization the invoice projection set aside.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedOrganization {
    #[schema(example = "acme")]
    pub org_id: String,
    /// The event being folded when it was parked.
    pub position: i64,
    /// What could not be folded.
    pub error: String,
    pub parked_at: DateTime<Utc>,
}

/// An invoice the period closer could not finalize.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnclosedInvoice {
    pub org_id: String,
    /// The period start as stored (it may be the value that cannot be read).
    pub period_start: String,
    pub error: String,
    /// Closing passes that failed.
    pub attempts: i64,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

/// One projection's checkpoint and lag.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionStatus {
    pub name: String,
    /// The live generation (a rebuild makes a new one).
    pub generation: i64,
    /// The last event folded.
    pub position: i64,
    /// The newest event stored.
    pub head: i64,
    pub events_behind: i64,
    /// Age of the oldest event not folded yet.
    pub seconds_behind: i64,
    pub updated_at: DateTime<Utc>,
}

/// The latest rebuild started through the API (null: none yet).
#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildBody {
    pub rebuild: Option<RebuildStatus>,
}

/// `POST /v1/ops/rebuild` (admin): start rebuilding the invoice projection
/// in the background; 409 if one is running. Follow it with GET.
#[utoipa::path(
    post,
    path = "/v1/ops/rebuild",
    tag = "ops",
    operation_id = "start_rebuild",
    summary = "Start a rebuild of the invoice projection (admin)",
    responses(
        (status = 202, description = "Started", body = RebuildBody),
        (status = 409, description = "A rebuild is already running", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn start_rebuild(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<(StatusCode, Json<RebuildBody>), ApiError> {
    auth.require(&[Role::Admin])?;
    let mut slot = state.ops.rebuild.lock().await;
    if slot
        .as_ref()
        .is_some_and(|s| s.state == RebuildState::Running)
    {
        return Err(ApiError::conflict("a rebuild is already running"));
    }
    let status = RebuildStatus {
        state: RebuildState::Running,
        started_at: Utc::now(),
        position: 0,
        head: 0,
        finished_at: None,
        generation: None,
        checksum: None,
        error: None,
    };
    *slot = Some(status.clone());
    drop(slot);
    let ops = state.ops.clone();
    let (store, tables) = (state.store.clone(), state.tables.clone());
    tokio::spawn(async move {
        let progress_ops = ops.clone();
        let progress = move |position: i64, head: i64| {
            if let Ok(mut slot) = progress_ops.rebuild.try_lock() {
                if let Some(s) = slot.as_mut() {
                    s.position = position;
                    s.head = head;
                }
            }
        };
        let result = rebuild(store, tables, &progress).await;
        let mut slot = ops.rebuild.lock().await;
        if let Some(s) = slot.as_mut() {
            s.finished_at = Some(Utc::now());
            match result {
                Ok(report) => {
                    s.state = RebuildState::Finished;
                    s.position = report.position;
                    s.generation = Some(report.generation);
                    s.checksum = Some(report.checksum);
                }
                Err(err) => {
                    tracing::error!(error = %err, "rebuild failed");
                    s.state = RebuildState::Failed;
                    s.error = Some(err.to_string());
                }
            }
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(RebuildBody {
            rebuild: Some(status),
        }),
    ))
}

/// `GET /v1/ops/rebuild` (admin): the latest rebuild's progress.
#[utoipa::path(
    get,
    path = "/v1/ops/rebuild",
    tag = "ops",
    operation_id = "rebuild_status",
    summary = "Progress of the latest rebuild (admin)",
    responses(
        (status = 200, description = "OK", body = RebuildBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn rebuild_status(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<RebuildBody>, ApiError> {
    auth.require(&[Role::Admin])?;
    let slot = state.ops.rebuild.lock().await;
    Ok(Json(RebuildBody {
        rebuild: slot.clone(),
    }))
}
