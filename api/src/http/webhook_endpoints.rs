//! Outbound webhook endpoints (admin): register, list, change, delete,
//! rotate the secret; the delivery log, a manual redeliver and a replay
//! from a ledger position. See docs/webhooks.md for receivers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use notifications::webhooks::endpoints::Endpoint;
use notifications::webhooks::messages::Attempt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use super::AppState;
use crate::commands::webhooks::{self, NewWebhookEndpoint, WebhookEndpointChange};
use crate::tokens::Role;

/// `{endpoint_id}` in a path.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EndpointPath {
    /// The endpoint's id.
    pub endpoint_id: Uuid,
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A registered endpoint (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEndpointView {
    pub endpoint_id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    /// `false` when disabled by an operator or after a message exhausted
    /// the retry schedule (`disabled_reason` says which).
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Only events after this ledger position are delivered (the head at
    /// registration), unless replayed.
    pub after_position: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(e: Endpoint) -> WebhookEndpointView {
    WebhookEndpointView {
        endpoint_id: e.endpoint_id,
        url: e.url,
        description: e.description,
        event_types: e.event_types,
        enabled: e.enabled,
        disabled_reason: e.disabled_reason,
        after_position: e.after_position,
        created_at: time(e.created_at),
        updated_at: time(e.updated_at),
    }
}

/// A new endpoint and its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointCreated {
    pub endpoint: WebhookEndpointView,
    /// `whsec_<base64>`: verify deliveries with it (docs/webhooks.md).
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub endpoints: Vec<WebhookEndpointView>,
}

/// A rotated secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub secret: String,
}

fn admin(auth: &Auth) -> Result<(), ApiError> {
    auth.require(&[Role::Admin]).map(|_| ())
}

fn hosts(state: &AppState) -> Option<&[String]> {
    state.config.webhook_hosts.as_deref()
}

/// `POST /v1/webhook-endpoints`: register a receiver.
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks", operation_id = "create_webhook_endpoint",
    summary = "Register a webhook endpoint (admin); the secret is shown once",
    request_body = NewWebhookEndpoint,
    responses(
        (status = 201, description = "Registered", body = WebhookEndpointCreated),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewWebhookEndpoint>,
) -> Result<(StatusCode, Json<WebhookEndpointCreated>), ApiError> {
    admin(&auth)?;
    let (endpoint, secret) = webhooks::create(
        &state.ctx(),
        &state.db,
        &state.config.webhook_keys,
        hosts(&state),
        body,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookEndpointCreated {
            endpoint: view(endpoint),
            secret,
        }),
    ))
}

/// `GET /v1/webhook-endpoints`.
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks", operation_id = "list_webhook_endpoints",
    summary = "Every webhook endpoint (admin)",
    responses(
        (status = 200, description = "OK", body = WebhookEndpointList),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<WebhookEndpointList>, ApiError> {
    admin(&auth)?;
    let endpoints = notifications::webhooks::endpoints::list(&state.db)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(WebhookEndpointList {
        endpoints: endpoints.into_iter().map(view).collect(),
    }))
}

async fn found(state: &AppState, id: Uuid) -> Result<Endpoint, ApiError> {
    notifications::webhooks::endpoints::get(&state.db, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no webhook endpoint `{id}`")))
}

/// `GET /v1/webhook-endpoints/{endpoint_id}`.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks", operation_id = "get_webhook_endpoint",
    summary = "One webhook endpoint (admin)", params(EndpointPath),
    responses(
        (status = 200, description = "OK", body = WebhookEndpointView),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn one(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<EndpointPath>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    admin(&auth)?;
    Ok(Json(view(found(&state, path.endpoint_id).await?)))
}

/// `PATCH /v1/webhook-endpoints/{endpoint_id}`: change, disable or enable.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks", operation_id = "update_webhook_endpoint",
    summary = "Change, disable or enable a webhook endpoint (admin)", params(EndpointPath),
    request_body = WebhookEndpointChange,
    responses(
        (status = 200, description = "Changed", body = WebhookEndpointView),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<EndpointPath>,
    ApiJson(body): ApiJson<WebhookEndpointChange>,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    admin(&auth)?;
    let endpoint = webhooks::update(
        &state.ctx(),
        &state.db,
        hosts(&state),
        path.endpoint_id,
        body,
    )
    .await?;
    Ok(Json(view(endpoint)))
}

/// `DELETE /v1/webhook-endpoints/{endpoint_id}`: with its messages and log.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks", operation_id = "delete_webhook_endpoint",
    summary = "Delete a webhook endpoint and its delivery log (admin)", params(EndpointPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<EndpointPath>,
) -> Result<StatusCode, ApiError> {
    admin(&auth)?;
    webhooks::delete(&state.db, path.endpoint_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/webhook-endpoints/{endpoint_id}/rotate-secret`.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/rotate-secret", tag = "webhooks", operation_id = "rotate_webhook_secret",
    summary = "Replace the signing secret (admin); shown once", params(EndpointPath),
    responses(
        (status = 200, description = "Rotated: later attempts are signed with it", body = RotatedSecret),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<EndpointPath>,
) -> Result<Json<RotatedSecret>, ApiError> {
    admin(&auth)?;
    let secret = webhooks::rotate(
        &state.ctx(),
        &state.db,
        &state.config.webhook_keys,
        path.endpoint_id,
    )
    .await?;
    Ok(Json(RotatedSecret { secret }))
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryPage {
    /// `next_cursor` of the previous page.
    #[param(minimum = 1)]
    cursor: Option<i64>,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// One attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    pub attempt_id: i64,
    /// The `webhook-id` header sent (stable across attempts).
    pub webhook_id: String,
    pub event_type: String,
    /// The ledger position of the event delivered.
    pub event_position: i64,
    /// 1 for the first attempt of the message.
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i64,
    /// The receiver's HTTP status; absent without an answer.
    pub response_status: Option<i32>,
    /// `delivered`, `failed`, `timeout` or `network_error`.
    pub outcome: String,
    pub error: Option<String>,
    /// The message now: `pending`, `delivered` or `failed`.
    pub message_status: String,
}

fn attempt(a: Attempt) -> DeliveryAttempt {
    DeliveryAttempt {
        attempt_id: a.attempt_id,
        webhook_id: a.webhook_id,
        event_type: a.event_type,
        event_position: a.event_position,
        attempt: a.attempt,
        started_at: time(a.started_at),
        latency_ms: a.latency_ms,
        response_status: a.response_status,
        outcome: a.outcome,
        error: a.error,
        message_status: a.message_status,
    }
}

/// An endpoint's delivery log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deliveries {
    pub endpoint_id: Uuid,
    pub attempts: Vec<DeliveryAttempt>,
    /// Pass as `?cursor=` for older attempts; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// `GET /v1/webhook-endpoints/{endpoint_id}/deliveries`: every attempt.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries", tag = "webhooks", operation_id = "webhook_deliveries",
    summary = "An endpoint's delivery attempts, newest first (admin)", params(EndpointPath, DeliveryPage),
    responses(
        (status = 200, description = "OK", body = Deliveries),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<EndpointPath>,
    ApiQuery(page): ApiQuery<DeliveryPage>,
) -> Result<Json<Deliveries>, ApiError> {
    admin(&auth)?;
    let limit = super::invoices::page_limit(page.limit)?;
    if page.cursor.is_some_and(|c| c < 1) {
        return Err(ApiError::invalid("cursor", "cursor must be at least 1"));
    }
    found(&state, path.endpoint_id).await?;
    let attempts = notifications::webhooks::messages::attempts(
        &state.db,
        path.endpoint_id,
        page.cursor,
        limit,
    )
    .await
    .map_err(ApiError::internal)?;
    let next_cursor = (attempts.len() == limit as usize)
        .then(|| attempts.last().map(|a| a.attempt_id))
        .flatten();
    Ok(Json(Deliveries {
        endpoint_id: path.endpoint_id,
        attempts: attempts.into_iter().map(attempt).collect(),
        next_cursor,
    }))
}

/// Which message to deliver again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redeliver {
    /// The `webhook-id` of the message (from the delivery log).
    #[schema(
        min_length = 1,
        max_length = 100,
        example = "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b"
    )]
    pub webhook_id: String,
}

/// Where a replay starts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Deliver the subscribed events after this ledger position (exclusive).
    #[schema(minimum = 0, value_type = i64)]
    #[serde(deserialize_with = "integer")]
    pub after_position: i64,
}

/// A JSON integer, also when written with a zero fraction (`1330.0`), as
/// JSON Schema's `integer` allows.
fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not an integer position"
        ))),
    }
}

/// What was queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// Messages made due now (same `webhook-id`s as before).
    pub messages: u64,
}

/// `POST /v1/webhook-endpoints/{endpoint_id}/redeliver`.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/redeliver", tag = "webhooks", operation_id = "redeliver_webhook",
    summary = "Deliver one message again, now (admin)", params(EndpointPath), request_body = Redeliver,
    responses(
        (status = 202, description = "Due now", body = Queued),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn redeliver(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<EndpointPath>,
    ApiJson(body): ApiJson<Redeliver>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    admin(&auth)?;
    webhooks::redeliver(&state.ctx(), &state.db, path.endpoint_id, &body.webhook_id).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { messages: 1 })))
}

/// `POST /v1/webhook-endpoints/{endpoint_id}/replay`.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/replay", tag = "webhooks", operation_id = "replay_webhooks",
    summary = "Deliver every subscribed event after a ledger position again (admin)", params(EndpointPath), request_body = Replay,
    responses(
        (status = 202, description = "Due now", body = Queued),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(path): ApiPath<EndpointPath>,
    ApiJson(body): ApiJson<Replay>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    admin(&auth)?;
    let messages = webhooks::replay(
        &state.ctx(),
        &state.db,
        path.endpoint_id,
        body.after_position,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { messages })))
}
