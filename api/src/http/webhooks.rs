//! `POST /v1/webhooks/stripe`: Stripe tells the ledger what happened to an
//! invoice's payment. No bearer token — the `Stripe-Signature` header is
//! the authentication (see `sync::payments::signature`). A delivery that
//! does not verify gets 400 and stores nothing; a verified one is applied
//! through the same idempotent path as the catch-up poller and answered
//! 200 even when it matches no invoice (Stripe would retry anything else
//! for days).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use sync::payments::event::EventData;
use sync::payments::signature::HEADER;
use sync::payments::{Applied, PaymentApplier, StripeEvent};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::AppState;

/// A Stripe event as Stripe posts it (the fields the ledger reads; Stripe
/// sends more, and they are accepted).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StripeEventBody {
    /// Stripe's event id (`evt_…`): the idempotency key of what it records.
    #[schema(min_length = 1, max_length = 200, example = "evt_1Q2w3E4r5T6y7U8i")]
    pub id: String,
    /// `invoice.paid`, `invoice.payment_failed`, …
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 100, example = "invoice.paid")]
    pub kind: String,
    /// When Stripe created the event, Unix seconds.
    pub created: i64,
    pub data: StripeEventDataBody,
}

/// The event's object (an invoice, a credit note, a charge).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StripeEventDataBody {
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// What the ledger did with a verified event.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookOutcome {
    /// A new fact about one of the ledger's invoices.
    Recorded,
    /// This event id was already applied; nothing stored.
    Duplicate,
    /// No invoice of the ledger matched; kept for operators.
    Unmatched,
    /// A type the ledger does not act on; nothing stored.
    Ignored,
}

/// The acknowledgement Stripe gets.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    /// The Stripe event id.
    pub event_id: String,
    pub outcome: WebhookOutcome,
}

fn outcome(applied: Applied) -> WebhookOutcome {
    match applied {
        Applied::Recorded => WebhookOutcome::Recorded,
        Applied::Duplicate => WebhookOutcome::Duplicate,
        Applied::Unmatched => WebhookOutcome::Unmatched,
        Applied::Ignored => WebhookOutcome::Ignored,
    }
}

fn refused(message: String) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "invalid_signature",
        message,
    )
    .with_field("Stripe-Signature")
}

/// `POST /v1/webhooks/stripe`: a signed Stripe event.
#[utoipa::path(
    post,
    path = "/v1/webhooks/stripe",
    tag = "webhooks",
    operation_id = "stripe_webhook",
    summary = "Receive a signed Stripe event (no bearer token: Stripe-Signature authenticates it)",
    description = "Verifies `Stripe-Signature` (HMAC-SHA256 over `{t}.{raw body}` with any secret in `STRIPE_WEBHOOK_SECRET`, `t` within `STRIPE_WEBHOOK_TOLERANCE_SECS`). A missing, malformed, expired or wrong signature — every request not sent by Stripe — is answered 400 `invalid_signature` and stores nothing. A verified event is recorded once per Stripe event id and answered 200, also when it matches no invoice.",
    params(
        ("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…]`")
    ),
    request_body(content = StripeEventBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Verified and applied (or recognised as a repeat)", body = WebhookAck),
        (status = 400, description = "The signature does not verify, or the verified body is not a Stripe event: nothing stored", body = ErrorBody),
        (status = "4XX", description = "A JSON error naming the problem", body = ErrorBody)
    )
)]
pub async fn stripe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let header = headers.get(HEADER).and_then(|v| v.to_str().ok());
    let verified = state
        .config
        .stripe_webhook
        .verify(header, &body, chrono::Utc::now());
    if let Err(e) = verified {
        state.metrics.signature_failure(e.label());
        tracing::warn!(
            reason = e.label(),
            "Stripe webhook refused: signature does not verify"
        );
        return Err(refused(e.to_string()));
    }
    let parsed: StripeEventBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a Stripe event: {e}")))?;
    let event = StripeEvent {
        id: parsed.id,
        kind: parsed.kind,
        created: parsed.created,
        data: EventData {
            object: parsed.data.object,
        },
    };
    let id_ok = !event.id.is_empty()
        && event.id.len() <= 200
        && event.id.chars().all(|c| c.is_ascii_graphic());
    if !id_ok {
        return Err(ApiError::bad_request(
            "the event id must be 1 to 200 printable ASCII characters",
        )
        .with_field("id"));
    }
    let applied = PaymentApplier::new(&state.db)
        .apply(&event, "webhook")
        .await
        .inspect_err(|_| state.metrics.webhook(&event.kind, "failed"))?;
    state.metrics.webhook(&event.kind, applied.as_str());
    tracing::info!(stripe_event = %event.id, event_type = %event.kind,
        outcome = applied.as_str(), "Stripe webhook");
    Ok(Json(WebhookAck {
        received: true,
        event_id: event.id,
        outcome: outcome(applied),
    }))
}
