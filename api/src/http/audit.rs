//! Support's audit trail: an organization's events and one event by id.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use ledger::store::{AuditQuery, Direction};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{org_id, ApiQuery, Auth};
use super::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Comma-separated event types, e.g. `UsageRecorded,ChargeAdded`.
    #[serde(rename = "type")]
    types: Option<String>,
    /// Inclusive lower bound on `occurred_at` (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `occurred_at` (RFC 3339).
    to: Option<DateTime<Utc>>,
    cursor: Option<i64>,
    limit: Option<u32>,
    /// `asc` (oldest first, default) or `desc`.
    order: Option<String>,
}

/// `GET /v1/organizations/{org_id}/events` (support, admin).
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/events",
    tag = "audit",
    summary = "An organization's event history (support)",
    params(("org_id" = String, Path, description = "The platform's organization id"), EventFilter),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn org_events(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    ApiQuery(filter): ApiQuery<EventFilter>,
) -> Result<Json<Value>, ApiError> {
    auth.support()?;
    let org = org_id(&raw, "org_id")?;
    let direction = match filter.order.as_deref() {
        None | Some("asc") => Direction::Forward,
        Some("desc") => Direction::Backward,
        Some(other) => {
            return Err(ApiError::invalid(
                "order",
                format!("order must be `asc` or `desc`, not `{other}`"),
            ))
        }
    };
    let event_types: Vec<String> = filter
        .types
        .as_deref()
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(unknown) = event_types
        .iter()
        .find(|t| !ledger::event::KNOWN_EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(ApiError::invalid(
            "type",
            format!("unknown event type `{unknown}`"),
        ));
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from > to {
            return Err(ApiError::invalid("from", "`from` must not be after `to`"));
        }
    }
    let query = AuditQuery {
        org_id: org.as_str().to_owned(),
        event_types,
        occurred_from: filter.from,
        occurred_to: filter.to,
        cursor: filter.cursor,
        direction,
        limit: filter.limit.unwrap_or(100).clamp(1, 1_000),
        ..AuditQuery::default()
    };
    let page = state.store.read_audit(&query).await?;
    Ok(Json(
        json!({"org_id": org, "events": page.items, "next_cursor": page.next_cursor}),
    ))
}

/// `GET /v1/events/{event_id}` (support, admin): one event, with who and
/// what wrote it in `metadata`.
#[utoipa::path(
    get,
    path = "/v1/events/{event_id}",
    tag = "audit",
    summary = "One event with its metadata (support)",
    params(("event_id" = String, Path, description = "Event UUID")),
    responses((status = 200, description = "OK", body = Object), (status = "4XX", description = "A JSON error naming the problem", body = Object)),
    security(("bearer" = []))
)]
pub async fn event(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.support()?;
    let id = Uuid::parse_str(&raw)
        .map_err(|_| ApiError::invalid("event_id", format!("`{raw}` is not a UUID")))?;
    match state.store.event_by_id(id).await? {
        Some(event) => Ok(Json(json!({"event": event}))),
        None => Err(ApiError::not_found(format!("no event {id}"))),
    }
}
