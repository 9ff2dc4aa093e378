//! Operations: health, readiness, projection lag, rebuilds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use projections::rebuild::rebuild;
use projections::tables::INVOICES;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::error::ApiError;
use super::extract::Auth;
use super::AppState;
use crate::tokens::Role;

/// The rebuild started through the API, if any.
#[derive(Debug, Default)]
pub struct OpsState {
    rebuild: Mutex<Option<RebuildStatus>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RebuildStatus {
    state: &'static str,
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
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and the schema is migrated.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    summary = "Readiness: database reachable and migrated",
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object))
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.tables.active_generation(INVOICES).await {
        Ok(_) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "reason": "database unreachable or not migrated"}),
                ),
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
    summary = "Projection checkpoints and lag (admin)",
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn projections(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Value>, ApiError> {
    auth.require(&[Role::Admin])?;
    let generation = state.tables.active_generation(INVOICES).await?;
    let checkpoint = state.tables.checkpoint(INVOICES, generation).await?;
    let head = state.store.head_position().await?;
    let behind = state.store.read_all(checkpoint.position, 1).await?;
    let seconds_behind = behind.first().map_or(0, |oldest| {
        (Utc::now() - oldest.recorded_at).num_seconds().max(0)
    });
    Ok(Json(json!({
        "projections": [{
            "name": INVOICES,
            "generation": generation,
            "position": checkpoint.position,
            "head": head,
            "events_behind": (head - checkpoint.position).max(0),
            "seconds_behind": seconds_behind,
            "updated_at": checkpoint.updated_at,
        }]
    })))
}

/// `POST /v1/ops/rebuild` (admin): start rebuilding the invoice projection
/// in the background; 409 if one is running. Follow it with GET.
#[utoipa::path(
    post,
    path = "/v1/ops/rebuild",
    tag = "ops",
    summary = "Start a rebuild of the invoice projection (admin)",
    responses((status = 202, description = "Started", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn start_rebuild(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth.require(&[Role::Admin])?;
    let mut slot = state.ops.rebuild.lock().await;
    if slot.as_ref().is_some_and(|s| s.state == "running") {
        return Err(ApiError::conflict("a rebuild is already running"));
    }
    let status = RebuildStatus {
        state: "running",
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
                    s.state = "finished";
                    s.position = report.position;
                    s.generation = Some(report.generation);
                    s.checksum = Some(report.checksum);
                }
                Err(err) => {
                    tracing::error!(error = %err, "rebuild failed");
                    s.state = "failed";
                    s.error = Some(err.to_string());
                }
            }
        }
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"rebuild": status}))))
}

/// `GET /v1/ops/rebuild` (admin): the latest rebuild's progress.
#[utoipa::path(
    get,
    path = "/v1/ops/rebuild",
    tag = "ops",
    summary = "Progress of the latest rebuild (admin)",
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn rebuild_status(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Value>, ApiError> {
    auth.require(&[Role::Admin])?;
    let slot = state.ops.rebuild.lock().await;
    Ok(Json(json!({"rebuild": slot.clone()})))
}
