//! Support's audit trail: an organization's events and one event by id.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use ledger::store::{AuditQuery, Direction};
use ledger::{OrgId, RecordedEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery, Auth, OrgPath};
use super::invoices::page_limit;
use super::AppState;

/// Oldest or newest first.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Comma-separated event types, e.g. `UsageRecorded,ChargeAdded`.
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        pattern = "^[A-Za-z]+(,[A-Za-z]+)*$",
        example = "UsageRecorded,ChargeAdded"
    )]
    pub(crate) types: Option<String>,
    /// Inclusive lower bound on `occurred_at` (RFC 3339).
    pub(crate) from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `occurred_at` (RFC 3339).
    pub(crate) to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    #[param(minimum = 0)]
    pub(crate) cursor: Option<i64>,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// Oldest first (default) or newest first.
    #[param(inline)]
    pub(crate) order: Option<Order>,
}

/// A page of an organization's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub org_id: OrgId,
    pub events: Vec<RecordedEvent>,
    /// Pass as `?cursor=` for the next page; absent on the last one.
    pub next_cursor: Option<i64>,
}

/// `GET /v1/organizations/{org_id}/events` (support, admin).
#[utoipa::path(
    get,
    path = "/v1/organizations/{org_id}/events",
    tag = "audit",
    operation_id = "org_events",
    summary = "An organization's event history (support)",
    params(OrgPath, EventFilter),
    responses(
        (status = 200, description = "OK", body = EventPage),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn org_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<OrgPath>,
    ApiQuery(filter): ApiQuery<EventFilter>,
) -> Result<Json<EventPage>, ApiError> {
    read_org_events(&state, &auth, &path, &filter)
        .await
        .map(Json)
}

/// A page of an organization's history (the JSON API and the console).
pub(crate) async fn read_org_events(
    state: &AppState,
    auth: &Auth,
    path: &OrgPath,
    filter: &EventFilter,
) -> Result<EventPage, ApiError> {
    auth.support()?;
    let org = path.org()?;
    let direction = match filter.order.unwrap_or_default() {
        Order::Asc => Direction::Forward,
        Order::Desc => Direction::Backward,
    };
    let limit = page_limit(filter.limit)?;
    if filter.cursor.is_some_and(|c| c < 0) {
        return Err(ApiError::invalid("cursor", "cursor must not be negative"));
    }
    let event_types: Vec<String> = filter
        .types
        .as_deref()
        .map(|t| t.split(',').map(str::to_owned).collect())
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
        limit,
        ..AuditQuery::default()
    };
    let page = state.store.read_audit(&query).await?;
    Ok(EventPage {
        org_id: org,
        events: page.items,
        next_cursor: page.next_cursor,
    })
}

/// `{event_id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EventPath {
    /// The event's UUID.
    #[param(value_type = String, format = Uuid)]
    event_id: Uuid,
}

/// One event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    pub event: RecordedEvent,
}

/// `GET /v1/events/{event_id}` (support, admin): one event, with who and
/// what wrote it in `metadata`.
#[utoipa::path(
    get,
    path = "/v1/events/{event_id}",
    tag = "audit",
    operation_id = "get_event",
    summary = "One event with its metadata (support)",
    params(EventPath),
    responses(
        (status = 200, description = "OK", body = EventBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn event(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<EventPath>,
) -> Result<Json<EventBody>, ApiError> {
    auth.support()?;
    match state.store.event_by_id(path.event_id).await? {
        Some(event) => Ok(Json(EventBody { event })),
        None => Err(ApiError::not_found(format!("no event {}", path.event_id))),
    }
}
