//! The typed domain events of the ledger: past-tense facts.
//!
//! `LedgerEvent` is adjacently tagged (`event_type` + `payload`), which is
//! exactly how the envelope stores it: the tag is the `event_type` column and
//! the content is the `payload` column. Every event type has a schema
//! version; [`upcast`] migrates a stored payload of an older version to the
//! current shape before it is deserialised, so old events stay readable.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::budget::{AlertResolved, AlertTriggered, BudgetSet};
use super::stream::{OrgId, StreamId};
use crate::money::{Amount, Currency, Quantity};
use crate::pricing::PriceSpec;

/// Every fact the ledger records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "event_type", content = "payload")]
pub enum LedgerEvent {
    OrganizationCreated(OrganizationCreated),
    SubscriptionStarted(SubscriptionStarted),
    SubscriptionChanged(SubscriptionChanged),
    SubscriptionCancelled(SubscriptionCancelled),
    PriceSet(PriceSet),
    UsageRecorded(UsageRecorded),
    UsageCorrected(UsageCorrected),
    UsageVoided(UsageVoided),
    ChargeAdded(ChargeAdded),
    CreditGranted(CreditGranted),
    InvoicePeriodOpened(InvoicePeriodOpened),
    InvoiceFinalized(InvoiceFinalized),
    InvoiceVoided(InvoiceVoided),
    InvoicePaid(InvoicePaid),
    InvoicePaymentFailed(InvoicePaymentFailed),
    InvoicePublishedToStripe(InvoicePublishedToStripe),
    InvoiceFinalizedInStripe(InvoiceFinalizedInStripe),
    BudgetSet(BudgetSet),
    AlertTriggered(AlertTriggered),
    AlertResolved(AlertResolved),
    InvoicePaymentActionRequired(InvoicePaymentActionRequired),
    InvoiceMarkedUncollectible(InvoiceMarkedUncollectible),
    InvoiceVoidedInStripe(InvoiceVoidedInStripe),
    InvoiceRefundRecorded(InvoiceRefundRecorded),
    StripeEventUnmatched(StripeEventUnmatched),
    InvoicePaymentDeclined(InvoicePaymentDeclined),
}

/// An organization the ledger bills. Periods are monthly, in UTC, starting
/// at `billing_anchor` (and on the same day of each later month, clamped to
/// the month's end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationCreated {
    pub org_id: OrgId,
    pub name: String,
    pub currency: Currency,
    pub billing_anchor: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
}

/// A recurring plan fee, billed monthly and prorated to the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionStarted {
    pub org_id: OrgId,
    pub subscription_id: String,
    pub plan: String,
    pub monthly_fee: Amount,
    pub effective_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionChanged {
    pub org_id: OrgId,
    pub subscription_id: String,
    pub plan: String,
    pub monthly_fee: Amount,
    pub effective_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCancelled {
    pub org_id: OrgId,
    pub subscription_id: String,
    pub effective_at: DateTime<Utc>,
}

/// A catalog entry: the price of a meter from `effective_from` on. Usage is
/// priced by the entry in effect when it occurred, so prices are history too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceSet {
    pub price_id: String,
    pub meter: String,
    pub currency: Currency,
    /// What one unit is, for people: "CPU-second", "GB-hour".
    pub unit: String,
    pub description: String,
    pub spec: PriceSpec,
    pub effective_from: DateTime<Utc>,
}

/// The interval a usage measurement covers, when the source knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One usage measurement. Its billing period is the one containing the
/// envelope's `occurred_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecorded {
    pub org_id: OrgId,
    pub meter: String,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<UsageWindow>,
    /// Which system reported it ("flyd", "volumes", "edge-proxy").
    pub source: String,
    /// Free-form dimensions for support: app, region, machine id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Replaces the quantity of an earlier usage event (by its event id).
///
/// It carries what it changes — the original's meter and `occurred_at` and
/// the quantity in force before this correction — so the invoice fold stays
/// a pure function of the events it is given. Whoever appends it looks
/// those up first (and serialises corrections of one usage event), and
/// gives the envelope the corrected usage's `occurred_at`, so time-window
/// queries (provenance, audit) find a usage event and its corrections
/// together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageCorrected {
    pub org_id: OrgId,
    pub usage_event_id: Uuid,
    pub meter: String,
    /// When the corrected usage occurred (decides its billing period).
    pub usage_occurred_at: DateTime<Utc>,
    pub previous_quantity: Quantity,
    pub quantity: Quantity,
    pub reason: String,
}

/// Cancels an earlier usage event (by its event id); carries what it
/// cancels, like [`UsageCorrected`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageVoided {
    pub org_id: OrgId,
    pub usage_event_id: Uuid,
    pub meter: String,
    pub usage_occurred_at: DateTime<Utc>,
    pub previous_quantity: Quantity,
    pub reason: String,
}

/// A one-off charge on the invoice of the period containing `occurred_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeAdded {
    pub org_id: OrgId,
    pub charge_id: String,
    pub description: String,
    pub amount: Amount,
}

/// A credit, shown as a negative line on the invoice of its period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditGranted {
    pub org_id: OrgId,
    pub credit_id: String,
    pub description: String,
    pub amount: Amount,
}

/// Identifies an invoice: one per organization and billing period.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct InvoiceKey {
    pub org_id: OrgId,
    pub period_start: DateTime<Utc>,
}

impl InvoiceKey {
    pub fn stream(&self) -> StreamId {
        StreamId::invoice(&self.org_id, self.period_start)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePeriodOpened {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub period_end: DateTime<Utc>,
}

/// Closes a period: the invoice's content is final from here on; later usage
/// for the period becomes an adjustment on the next open invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceFinalized {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub period_end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceVoided {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub reason: String,
}

/// Stripe reports the invoice paid (`invoice.paid`). The optional fields
/// came with payments from Stripe (issue 12); older payloads lack them and
/// still decode (schema version 1: only optional fields were added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePaid {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub stripe_invoice_id: String,
    /// The Stripe event this fact came from (also its idempotency key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_event_id: Option<String>,
    /// When Stripe says it was paid (`status_transitions.paid_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime<Utc>>,
    /// Marked paid outside Stripe (`paid_out_of_band`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paid_out_of_band: bool,
}

/// Stripe reports a failed payment attempt (`invoice.payment_failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePaymentFailed {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub stripe_invoice_id: String,
    /// The decline reason Stripe sent (or a description of the failure).
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_event_id: Option<String>,
    /// When Stripe created the event: orders failures independently of
    /// their arrival (the latest attempt's reason is shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_count: Option<i64>,
    /// When Stripe will try again (`next_payment_attempt`), if it will.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_payment_attempt: Option<DateTime<Utc>>,
}

/// The customer must act (3-D Secure) before Stripe can collect
/// (`invoice.payment_action_required`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePaymentActionRequired {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub stripe_invoice_id: String,
    pub stripe_event_id: String,
    /// When Stripe created the event.
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_payment_attempt: Option<DateTime<Utc>>,
}

/// Stripe marked the invoice uncollectible (`invoice.marked_uncollectible`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceMarkedUncollectible {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub stripe_invoice_id: String,
    pub stripe_event_id: String,
}

/// The Stripe invoice was voided in Stripe (`invoice.voided`). The
/// ledger's own invoice status is not changed by it (the ledger voids with
/// [`InvoiceVoided`]); its payment status becomes `void`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceVoidedInStripe {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub stripe_invoice_id: String,
    pub stripe_event_id: String,
}

/// A refund or credit note against the invoice, recorded for audit
/// (`charge.refunded`, `credit_note.created`); it does not change the
/// invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRefundRecorded {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub stripe_invoice_id: String,
    pub stripe_event_id: String,
    /// `refund` or `credit_note`.
    pub kind: String,
    /// The Stripe object (`ch_…`, `cn_…`).
    pub stripe_object_id: String,
    /// In the currency's minor unit, as Stripe states it.
    pub amount_minor: i64,
    pub currency: String,
}

/// A Stripe event the ledger could not attribute to one of its invoices,
/// acknowledged and kept for an operator (stream `stripe-unmatched`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeEventUnmatched {
    pub stripe_event_id: String,
    pub stripe_event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_object_id: Option<String>,
    /// Why it matched nothing.
    pub reason: String,
    /// The event as Stripe sent it (`id`, `type`, `created`, `data`), so the
    /// catch-up can apply it once its invoice becomes known (issue 12,
    /// round 3). Absent on events recorded before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub stripe_event: Option<serde_json::Value>,
}

/// Why a failed attempt failed, as Stripe keeps it on the attempt's PaymentIntent
/// (`last_payment_error`), which the sync reads for each `invoice.payment_failed`
/// (issue 12, round 3). It explains the failure of `stripe_event_id`; the invoice
/// read shows it in place of that failure's own description, whichever of the two
/// facts arrived first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePaymentDeclined {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub stripe_invoice_id: String,
    /// The `invoice.payment_failed` event this explains.
    pub stripe_event_id: String,
    /// The PaymentIntent (`pi_…`) whose error this is.
    pub payment_intent_id: String,
    /// `last_payment_error.decline_code` (card declines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    /// `last_payment_error.code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `last_payment_error.message`, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl InvoicePaymentDeclined {
    /// What the invoice read shows: the decline code, else the error code,
    /// else the message.
    pub fn reason(&self) -> Option<String> {
        self.decline_code
            .clone()
            .or_else(|| self.code.clone())
            .or_else(|| self.message.clone())
    }
}

/// Audit fact: the sync published version `version` of the invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePublishedToStripe {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub version: i64,
    pub stripe_invoice_id: String,
}

/// Audit fact: the invoice was finalized in Stripe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceFinalizedInStripe {
    #[serde(flatten)]
    pub invoice: InvoiceKey,
    pub version: i64,
    pub stripe_invoice_id: String,
}

impl LedgerEvent {
    /// The tag stored in the `event_type` column.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::OrganizationCreated(_) => "OrganizationCreated",
            Self::SubscriptionStarted(_) => "SubscriptionStarted",
            Self::SubscriptionChanged(_) => "SubscriptionChanged",
            Self::SubscriptionCancelled(_) => "SubscriptionCancelled",
            Self::PriceSet(_) => "PriceSet",
            Self::UsageRecorded(_) => "UsageRecorded",
            Self::UsageCorrected(_) => "UsageCorrected",
            Self::UsageVoided(_) => "UsageVoided",
            Self::ChargeAdded(_) => "ChargeAdded",
            Self::CreditGranted(_) => "CreditGranted",
            Self::InvoicePeriodOpened(_) => "InvoicePeriodOpened",
            Self::InvoiceFinalized(_) => "InvoiceFinalized",
            Self::InvoiceVoided(_) => "InvoiceVoided",
            Self::InvoicePaid(_) => "InvoicePaid",
            Self::InvoicePaymentFailed(_) => "InvoicePaymentFailed",
            Self::InvoicePublishedToStripe(_) => "InvoicePublishedToStripe",
            Self::InvoiceFinalizedInStripe(_) => "InvoiceFinalizedInStripe",
            Self::BudgetSet(_) => "BudgetSet",
            Self::AlertTriggered(_) => "AlertTriggered",
            Self::AlertResolved(_) => "AlertResolved",
            Self::InvoicePaymentActionRequired(_) => "InvoicePaymentActionRequired",
            Self::InvoiceMarkedUncollectible(_) => "InvoiceMarkedUncollectible",
            Self::InvoiceVoidedInStripe(_) => "InvoiceVoidedInStripe",
            Self::InvoiceRefundRecorded(_) => "InvoiceRefundRecorded",
            Self::StripeEventUnmatched(_) => "StripeEventUnmatched",
            Self::InvoicePaymentDeclined(_) => "InvoicePaymentDeclined",
        }
    }

    /// The organization an event concerns (indexed for audit reads);
    /// `None` for catalog events and unmatched Stripe events.
    pub fn org_id(&self) -> Option<&OrgId> {
        Some(match self {
            Self::OrganizationCreated(e) => &e.org_id,
            Self::SubscriptionStarted(e) => &e.org_id,
            Self::SubscriptionChanged(e) => &e.org_id,
            Self::SubscriptionCancelled(e) => &e.org_id,
            Self::PriceSet(_) => return None,
            Self::UsageRecorded(e) => &e.org_id,
            Self::UsageCorrected(e) => &e.org_id,
            Self::UsageVoided(e) => &e.org_id,
            Self::ChargeAdded(e) => &e.org_id,
            Self::CreditGranted(e) => &e.org_id,
            Self::InvoicePeriodOpened(e) => &e.invoice.org_id,
            Self::InvoiceFinalized(e) => &e.invoice.org_id,
            Self::InvoiceVoided(e) => &e.invoice.org_id,
            Self::InvoicePaid(e) => &e.invoice.org_id,
            Self::InvoicePaymentFailed(e) => &e.invoice.org_id,
            Self::InvoicePublishedToStripe(e) => &e.invoice.org_id,
            Self::InvoiceFinalizedInStripe(e) => &e.invoice.org_id,
            Self::BudgetSet(e) => &e.org_id,
            Self::AlertTriggered(e) => &e.org_id,
            Self::AlertResolved(e) => &e.org_id,
            Self::InvoicePaymentActionRequired(e) => &e.invoice.org_id,
            Self::InvoiceMarkedUncollectible(e) => &e.invoice.org_id,
            Self::InvoiceVoidedInStripe(e) => &e.invoice.org_id,
            Self::InvoiceRefundRecorded(e) => &e.invoice.org_id,
            Self::StripeEventUnmatched(_) => return None,
            Self::InvoicePaymentDeclined(e) => &e.invoice.org_id,
        })
    }

    /// The current schema version of an event type. Bump it when a type's
    /// payload changes shape, and teach [`upcast`] the old shape.
    pub fn schema_version(event_type: &str) -> Option<i32> {
        KNOWN_EVENT_TYPES
            .contains(&event_type)
            .then_some(CURRENT_SCHEMA_VERSION)
    }
}

macro_rules! from_parts {
    ($parse:ident, $event_type:expr, $payload:expr, $($variant:ident),+ $(,)?) => {
        match $event_type {
            $(stringify!($variant) => $parse::<$variant>($payload).map(LedgerEvent::$variant),)+
            other => return Err(DecodeError::UnknownType(other.to_owned())),
        }
    };
}

fn from_value<'a, T: Deserialize<'a>>(
    payload: &'a serde_json::Value,
) -> Result<T, serde_json::Error> {
    T::deserialize(payload)
}

fn from_text<'a, T: Deserialize<'a>>(payload: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(payload)
}

/// `$then!($args, Variant, …)` for every variant of [`LedgerEvent`].
macro_rules! with_variants {
    ($then:ident!($($args:tt)*)) => {
        $then!(
            $($args)*,
            OrganizationCreated,
            SubscriptionStarted,
            SubscriptionChanged,
            SubscriptionCancelled,
            PriceSet,
            UsageRecorded,
            UsageCorrected,
            UsageVoided,
            ChargeAdded,
            CreditGranted,
            InvoicePeriodOpened,
            InvoiceFinalized,
            InvoiceVoided,
            InvoicePaid,
            InvoicePaymentFailed,
            InvoicePublishedToStripe,
            InvoiceFinalizedInStripe,
            BudgetSet,
            AlertTriggered,
            AlertResolved,
            InvoicePaymentActionRequired,
            InvoiceMarkedUncollectible,
            InvoiceVoidedInStripe,
            InvoiceRefundRecorded,
            StripeEventUnmatched,
            InvoicePaymentDeclined,
        )
    };
}

macro_rules! all_variants {
    ($parse:ident, $event_type:expr, $payload:expr) => {
        with_variants!(from_parts!($parse, $event_type, $payload))
    };
}

macro_rules! payload_text {
    ($event:expr, $($variant:ident),+ $(,)?) => {
        match $event {
            $(LedgerEvent::$variant(payload) => serde_json::to_string(payload),)+
        }
    };
}

impl LedgerEvent {
    /// The payload as the store keeps it: the JSON text of the variant's
    /// fields alone, without the `event_type` tag.
    pub fn payload_text(&self) -> Result<String, serde_json::Error> {
        with_variants!(payload_text!(self))
    }

    /// Deserialise a current-version payload of `event_type` without
    /// copying it (what the adjacently tagged representation would do).
    pub fn from_parts(event_type: &str, payload: &serde_json::Value) -> Result<Self, DecodeError> {
        all_variants!(from_value, event_type, payload).map_err(|source| DecodeError::Payload {
            event_type: event_type.to_owned(),
            source,
        })
    }

    /// Deserialise a stored payload given as JSON text: upcast through a
    /// value only when its schema version is old, else parse it directly
    /// into the typed event (what replays use: no intermediate tree).
    pub fn from_stored_text(
        event_type: &str,
        schema_version: i32,
        payload: &str,
    ) -> Result<Self, DecodeError> {
        if Self::schema_version(event_type) == Some(schema_version) {
            return all_variants!(from_text, event_type, payload).map_err(|source| {
                DecodeError::Payload {
                    event_type: event_type.to_owned(),
                    source,
                }
            });
        }
        let value: serde_json::Value =
            serde_json::from_str(payload).map_err(|source| DecodeError::Payload {
                event_type: event_type.to_owned(),
                source,
            })?;
        Self::from_parts(event_type, &upcast(event_type, schema_version, value)?)
    }
}

const CURRENT_SCHEMA_VERSION: i32 = 1;

/// Every event type this build knows.
pub const KNOWN_EVENT_TYPES: &[&str] = &[
    "OrganizationCreated",
    "SubscriptionStarted",
    "SubscriptionChanged",
    "SubscriptionCancelled",
    "PriceSet",
    "UsageRecorded",
    "UsageCorrected",
    "UsageVoided",
    "ChargeAdded",
    "CreditGranted",
    "InvoicePeriodOpened",
    "InvoiceFinalized",
    "InvoiceVoided",
    "InvoicePaid",
    "InvoicePaymentFailed",
    "InvoicePublishedToStripe",
    "InvoiceFinalizedInStripe",
    "BudgetSet",
    "AlertTriggered",
    "AlertResolved",
    "InvoicePaymentActionRequired",
    "InvoiceMarkedUncollectible",
    "InvoiceVoidedInStripe",
    "InvoiceRefundRecorded",
    "StripeEventUnmatched",
    "InvoicePaymentDeclined",
];

/// A stored event could not be turned back into a [`LedgerEvent`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("{event_type} has schema version {found}, newer than this build's {supported}")]
    FutureVersion {
        event_type: String,
        found: i32,
        supported: i32,
    },
    #[error("malformed {event_type} payload: {source}")]
    Payload {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Bring a stored payload to the current schema of its type. Every type is
/// at version 1 today, so this only refuses versions from the future; a
/// version-2 change adds a `(type, 1) => transform` arm here.
pub fn upcast(
    event_type: &str,
    schema_version: i32,
    payload: serde_json::Value,
) -> Result<serde_json::Value, DecodeError> {
    let current = LedgerEvent::schema_version(event_type)
        .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
    if schema_version > current {
        return Err(DecodeError::FutureVersion {
            event_type: event_type.to_owned(),
            found: schema_version,
            supported: current,
        });
    }
    Ok(payload)
}
