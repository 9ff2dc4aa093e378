//! The invoice as the fold produces it: what the API shows and the sync
//! publishes.

use chrono::{DateTime, Utc};
use ledger::event::InvoiceKey;
use ledger::money::Currency;
use ledger::OrgId;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::payment::PaymentStatus;
use crate::pricing::TierCharge;

/// The longest line description, in characters: Stripe's limit for an
/// invoice item's `description` (`maxLength` on `POST /v1/invoiceitems`),
/// so the same text can go to Stripe.
pub const LINE_DESCRIPTION_MAX: usize = 5000;

/// Open → Finalized → Paid | Void (an Open invoice may also be voided).
/// A failed payment leaves it Finalized with [`Invoice::payment_failed`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    Finalized,
    Paid,
    Void,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Finalized => "finalized",
            Self::Paid => "paid",
            Self::Void => "void",
        }
    }
}

/// One organization's invoice for one billing period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invoice {
    pub org_id: OrgId,
    pub period_start: DateTime<Utc>,
    /// Exclusive end of the period.
    pub period_end: DateTime<Utc>,
    pub currency: Currency,
    pub status: InvoiceStatus,
    /// The last payment failure Stripe reported, while the payment status
    /// is `payment_failed` (cleared when paid).
    pub payment_failed: Option<String>,
    /// What Stripe reported about the payment, by the precedence rule of
    /// docs/payments.md (independent of the order events arrived in).
    #[serde(default)]
    pub payment_status: PaymentStatus,
    /// When Stripe says it was paid (only while `paid`).
    #[serde(default)]
    pub paid_at: Option<DateTime<Utc>>,
    /// The reason of the latest failed attempt (by Stripe's clock), kept
    /// after a later success.
    #[serde(default)]
    pub last_payment_failure: Option<String>,
    /// When Stripe will try again (only while `payment_failed`).
    #[serde(default)]
    pub next_payment_attempt: Option<DateTime<Utc>>,
    /// Starts at 1; +1 on every content change.
    pub version: i64,
    /// Global position of the last event that changed the invoice.
    pub position: i64,
    /// Fees, usage, late adjustments, charges, a balance carried forward
    /// (if any), then credits (carried-in first).
    pub lines: Vec<InvoiceLine>,
    /// Sum of the rounded lines before credits.
    pub subtotal: Decimal,
    /// Credits applied (a positive number; the credit lines' sum negated).
    pub credit_applied: Decimal,
    /// Sum of all rounded lines; never below zero.
    pub total: Decimal,
    /// Unused credit (and negative balance) that carries forward to the
    /// next invoice when this one is finalized.
    pub credit_remaining: Decimal,
}

impl Invoice {
    pub fn key(&self) -> InvoiceKey {
        InvoiceKey {
            org_id: self.org_id.clone(),
            period_start: self.period_start,
        }
    }
}

/// What a line bills.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Usage,
    RecurringFee,
    Charge,
    /// A one-off charge dated in a period that was already closed.
    LateCharge,
    Credit,
    LateUsageAdjustment,
    /// Positive line that brings a negative subtotal back to zero; the
    /// balance carries forward as a credit.
    BalanceCarriedForward,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceLine {
    /// Stable within the invoice across versions: `usage:<meter>:<price>`,
    /// `fee:<subscription>:<first day>`, `charge:<id>`, `credit:<id>`,
    /// `late:<period start>:<meter>:<price>`, `balance:carried-forward`.
    pub line_id: String,
    pub kind: LineKind,
    /// Human text, at most [`LINE_DESCRIPTION_MAX`] characters: for usage,
    /// the price's description, the quantity with its unit, the arithmetic,
    /// then allowance, tiers and minimum in words.
    pub description: String,
    pub meter: Option<String>,
    pub price_id: Option<String>,
    /// Usage: units in the period (late: the late units). Recurring fee:
    /// UTC days billed. Charge and credit: 1.
    pub quantity: Decimal,
    /// Per-unit prices only (tiered and prorated lines have none).
    pub unit_price: Option<Decimal>,
    /// Rounded once to the currency's minor unit (half away from zero).
    pub amount: Decimal,
    /// Tier breakdown of tiered usage lines, unrounded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierCharge>,
    /// What one unit is ("second", "GB-hour"), from the price: usage and
    /// late usage lines priced by a catalog entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// How a priced usage or late usage line's amount came about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<LinePricing>,
    /// How a recurring fee line was prorated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proration: Option<Proration>,
    /// For late adjustments and late charges: the closed period they
    /// belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjusts_period_start: Option<DateTime<Utc>>,
    pub source: LineSource,
}

/// The pricing model of a line's price (the spec's `model.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PricingModelKind {
    PerUnit,
    Graduated,
    Volume,
}

/// The terms behind a usage line's amount, for programs; the description
/// says the same in words. Quantities and amounts are unrounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinePricing {
    pub model: PricingModelKind,
    /// The price's own description ("shared-cpu-1x machine time").
    pub price_description: String,
    /// The price's free allowance per period (0 if none).
    pub free_allowance: Decimal,
    /// Usage lines: units of this line the allowance covered (what the
    /// allowance had left after the period's earlier price segments).
    /// `None` on late adjustments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_quantity: Option<Decimal>,
    /// Usage lines: units the model priced (quantity − free quantity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable_quantity: Option<Decimal>,
    /// The price's minimum charge per period, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_charge: Option<Decimal>,
    /// Usage lines: what the minimum charge added to this line, when it
    /// applied (the line's amount is then the model's amount plus this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_top_up: Option<Decimal>,
    /// Late adjustments: the closed period's quantity under this price
    /// after the late usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_quantity: Option<Decimal>,
    /// The line's amount before its one rounding.
    pub amount_unrounded: Decimal,
}

/// How a recurring fee line was prorated: `monthly_fee × days_billed /
/// days_in_period`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Proration {
    pub plan: String,
    pub monthly_fee: Decimal,
    pub days_billed: i64,
    pub days_in_period: i64,
    /// First and last UTC day billed (inclusive).
    pub first_day: DateTime<Utc>,
    pub last_day: DateTime<Utc>,
}

/// Which stored events make up a line: a selector over the events table
/// (together with the invoice's `org_id`).
///
/// - `occurred_from`/`occurred_to` (`[from, to)`) filter on the usage's
///   time: the envelope's `occurred_at` for `UsageRecorded`, but the
///   payload's `usage_occurred_at` for `UsageCorrected` and `UsageVoided`.
///   For usage lines the window is the span of usage actually folded into
///   the line (first to last, `to` = last + 1 µs), which is exact as long
///   as prices are not back-dated below already recorded usage.
/// - `after_position` (exclusive) / `up_to_position` (inclusive) bound the
///   global position: usage lines stop at the last event folded into them
///   (later, late events for the period went elsewhere); late adjustments
///   cover the events that landed on this invoice.
/// - `ids` names the events a line rests on: subscription, charge or credit
///   ids (matched against the payload's `subscription_id`, `charge_id`,
///   `credit_id`).
/// - A line derived from other lines rather than from events of its own (a
///   negative balance carried forward, and its credit on the next invoice)
///   selects nothing: `up_to_position: Some(0)`; its description names the
///   period it comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineSource {
    pub event_types: Vec<String>,
    pub meter: Option<String>,
    pub occurred_from: Option<DateTime<Utc>>,
    pub occurred_to: Option<DateTime<Utc>>,
    pub after_position: Option<i64>,
    pub up_to_position: Option<i64>,
    pub ids: Vec<String>,
}

impl LineSource {
    /// The selector of a derived line: matches no event.
    pub fn derived() -> Self {
        Self {
            up_to_position: Some(0),
            ..Self::default()
        }
    }

    pub(crate) fn usage_types() -> Vec<String> {
        ["UsageRecorded", "UsageCorrected", "UsageVoided"]
            .map(str::to_owned)
            .to_vec()
    }
}
