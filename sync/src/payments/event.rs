//! Stripe's event objects (`/v1/events`, webhook bodies), decoded only as
//! far as payments need, and what each becomes in the ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Invoice event types the catch-up asks `GET /v1/events` for.
pub const INVOICE_EVENT_TYPES: &[&str] = &[
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.marked_uncollectible",
    "invoice.voided",
    "invoice.finalized",
];

/// A Stripe event (`object: "event"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

impl StripeEvent {
    pub fn created_at(&self) -> DateTime<Utc> {
        unix(self.created).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }
}

pub(crate) fn unix(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(secs, 0)
}

/// The fields of an invoice object payments read.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct InvoiceObject {
    pub id: String,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub status_transitions: Option<Transitions>,
    #[serde(default)]
    pub attempt_count: Option<i64>,
    #[serde(default)]
    pub next_payment_attempt: Option<i64>,
    #[serde(default)]
    pub paid_out_of_band: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Transitions {
    #[serde(default)]
    pub paid_at: Option<i64>,
}

impl InvoiceObject {
    /// What an `invoice.payment_failed` itself tells: which attempt failed.
    /// Why is on the attempt's PaymentIntent ([`super::decline`]).
    pub fn failure_reason(&self) -> String {
        match self.attempt_count {
            Some(n) => format!("payment attempt {n} failed"),
            None => "payment failed".to_owned(),
        }
    }
}

/// An id field that may be expanded into its object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    pub fn id(&self) -> &str {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

/// A refund-like object: a credit note or a refunded charge.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RefundObject {
    pub id: String,
    #[serde(default)]
    pub invoice: Option<Expandable>,
    /// Credit notes: `amount`; charges: `amount_refunded`.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub amount_refunded: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}
