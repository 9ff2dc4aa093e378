//! `/__fake/...`: drive the fake over HTTP when it runs alone.
//!
//! - `POST /__fake/faults` with a JSON [`Fault`]; `DELETE /__fake/faults` clears them.
//! - `GET /__fake/requests` lists recorded requests; `DELETE /__fake/requests` clears.
//! - `GET /__fake/conformance` checks the recorded requests against Stripe's OpenAPI.
//! - `POST /__fake/reset` forgets everything.
//! - `POST /__fake/webhook_faults` with a JSON [`crate::WebhookFault`].
//! - `POST /__fake/invoices/{id}/fail_next_payment` with `{"decline_code": "…"}`: the
//!   next `POST /v1/invoices/{id}/pay` is declined with it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::state::{lock, RecordedRequest, Shared};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/__fake/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/__fake/requests", get(requests).delete(clear_requests))
        .route("/__fake/conformance", get(conformance))
        .route("/__fake/reset", post(reset))
        .route("/__fake/webhook_faults", post(add_webhook_fault))
        .route(
            "/__fake/invoices/{id}/fail_next_payment",
            post(fail_next_payment),
        )
}

async fn add_fault(State(shared): State<Arc<Shared>>, Json(fault): Json<Fault>) -> StatusCode {
    if shared.add_fault(fault) {
        StatusCode::CREATED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Json<Vec<Fault>> {
    Json(lock(&shared.faults).clone())
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.faults).clear();
    StatusCode::NO_CONTENT
}

async fn requests(State(shared): State<Arc<Shared>>) -> Json<Vec<RecordedRequest>> {
    Json(lock(&shared.log).clone())
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.log).clear();
    StatusCode::NO_CONTENT
}

async fn conformance(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let log = lock(&shared.log).clone();
    let violations = match crate::conformance::check_all(&log) {
        Ok(()) => Vec::new(),
        Err(violations) => violations.iter().map(ToString::to_string).collect(),
    };
    Json(json!({ "checked": log.len(), "violations": violations }))
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

async fn add_webhook_fault(
    State(shared): State<Arc<Shared>>,
    Json(fault): Json<crate::WebhookFault>,
) -> StatusCode {
    if fault.times == 0 {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    lock(&shared.outbox).faults.push(fault);
    StatusCode::CREATED
}

#[derive(serde::Deserialize)]
struct Decline {
    decline_code: String,
}

async fn fail_next_payment(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(decline): Json<Decline>,
) -> StatusCode {
    lock(&shared.store)
        .fail_next
        .insert(id, decline.decline_code);
    StatusCode::CREATED
}
