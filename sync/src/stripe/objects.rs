//! Stripe objects as we read them: only the fields the sync uses, in the shapes of the
//! pinned API version ([`DEFAULT_API_VERSION`](super::DEFAULT_API_VERSION); Stripe's
//! `fixtures3.json` of that version is the reference, and a test decodes it). Fields we
//! do not read are ignored, so additions on Stripe's side never break decoding.
//! Amounts are integer minor units of `currency` (a lowercase ISO code).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

/// Stripe's `metadata`: string keys and values; `null` reads as empty.
pub type Metadata = BTreeMap<String, String>;

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Metadata, D::Error> {
    Ok(Option::<Metadata>::deserialize(d)?.unwrap_or_default())
}

/// A page of a list (`{"object":"list", "data":[…], "has_more":…, "url":…}`).
#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    /// The objects on this page, newest first for most lists.
    pub data: Vec<T>,
    /// Whether more objects follow the last one of `data`.
    pub has_more: bool,
    /// The list's URL path.
    pub url: String,
}

/// A page of search results; follow `next_page` with `page`.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResult<T> {
    /// The matching objects on this page.
    pub data: Vec<T>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor for the next page.
    #[serde(default)]
    pub next_page: Option<String>,
}

/// `DELETE` answers with the id and `deleted: true`.
#[derive(Debug, Clone, Deserialize)]
pub struct Deleted {
    /// The deleted object's id.
    pub id: String,
    /// Always `true` on success.
    pub deleted: bool,
}

/// A customer (`cus_…`).
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    /// `cus_…`
    pub id: String,
    /// Email, if set.
    #[serde(default)]
    pub email: Option<String>,
    /// Name, if set.
    #[serde(default)]
    pub name: Option<String>,
    /// Description, if set.
    #[serde(default)]
    pub description: Option<String>,
    /// Our ids and other tags.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: Metadata,
    /// Unix seconds.
    pub created: i64,
}

/// An invoice's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Editable; not yet sent.
    Draft,
    /// Finalized and awaiting payment.
    Open,
    /// Paid (a zero-total invoice is paid on finalization).
    Paid,
    /// Marked uncollectible.
    Uncollectible,
    /// Voided.
    Void,
}

/// How Stripe collects an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// Charge the customer's default payment method.
    ChargeAutomatically,
    /// Email the invoice; `days_until_due` applies.
    SendInvoice,
}

/// An invoice (`in_…`). `lines` holds only the first lines; page the rest with
/// [`StripeClient::all_invoice_lines`](super::StripeClient::all_invoice_lines).
#[derive(Debug, Clone, Deserialize)]
pub struct Invoice {
    /// `in_…`
    pub id: String,
    /// The customer's id.
    pub customer: String,
    /// `None` only for deleted drafts in some event payloads.
    #[serde(default)]
    pub status: Option<InvoiceStatus>,
    /// Lowercase ISO currency.
    pub currency: String,
    /// Whether Stripe advances the invoice automatically.
    #[serde(default)]
    pub auto_advance: Option<bool>,
    /// How Stripe collects it.
    pub collection_method: CollectionMethod,
    /// Due date (Unix seconds), for `send_invoice`.
    #[serde(default)]
    pub due_date: Option<i64>,
    /// Description (the "memo").
    #[serde(default)]
    pub description: Option<String>,
    /// Our ids and other tags.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: Metadata,
    /// Assigned on finalization.
    #[serde(default)]
    pub number: Option<String>,
    /// Sum of line amounts before tax and discounts.
    pub subtotal: i64,
    /// Total after tax and discounts.
    pub total: i64,
    /// What the customer owes.
    pub amount_due: i64,
    /// What was paid.
    pub amount_paid: i64,
    /// What is left to pay.
    pub amount_remaining: i64,
    /// Unix seconds.
    pub created: i64,
    /// The first lines only; `lines.has_more` says whether more exist.
    pub lines: List<InvoiceLine>,
}

/// A billing period, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Start, inclusive.
    pub start: i64,
    /// End.
    pub end: i64,
}

/// An invoice item (`ii_…`): what we create and edit.
#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceItem {
    /// `ii_…`
    pub id: String,
    /// The customer's id.
    pub customer: String,
    /// The invoice it is on, if any (pending items have none).
    #[serde(default)]
    pub invoice: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// Lowercase ISO currency.
    pub currency: String,
    /// Description shown on the invoice.
    #[serde(default)]
    pub description: Option<String>,
    /// Our ids and other tags.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: Metadata,
    /// Service period.
    pub period: Period,
    /// Quantity.
    pub quantity: i64,
    /// How it is priced (API 2025-03-31 and later; replaces the top-level
    /// `unit_amount_decimal` and `price`).
    #[serde(default)]
    pub pricing: Option<Pricing>,
}

impl InvoiceItem {
    /// Unit price in minor units with up to 12 decimal places, when priced per unit.
    pub fn unit_amount_decimal(&self) -> Option<Decimal> {
        self.pricing.as_ref().and_then(|p| p.unit_amount_decimal)
    }
}

/// `pricing` of an invoice item or line.
#[derive(Debug, Clone, Deserialize)]
pub struct Pricing {
    /// `price_details` (priced from a Price object) or absent for one-off amounts.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Unit price in minor units with up to 12 decimal places.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub unit_amount_decimal: Option<Decimal>,
}

/// `parent` of an invoice line: what the line was made from.
#[derive(Debug, Clone, Deserialize)]
pub struct LineParent {
    /// `invoice_item_details` or `subscription_item_details`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Set when the line comes from an invoice item.
    #[serde(default)]
    pub invoice_item_details: Option<InvoiceItemDetails>,
}

/// `parent.invoice_item_details` of an invoice line.
#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceItemDetails {
    /// The invoice item (`ii_…`) behind the line.
    #[serde(default)]
    pub invoice_item: Option<String>,
}

/// A line of an invoice (`il_…`) as listed by `GET /v1/invoices/{id}/lines`.
#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceLine {
    /// `il_…`
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// Lowercase ISO currency.
    pub currency: String,
    /// Description shown on the invoice.
    #[serde(default)]
    pub description: Option<String>,
    /// Metadata copied from the invoice item.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: Metadata,
    /// Service period.
    pub period: Period,
    /// Quantity, if any.
    #[serde(default)]
    pub quantity: Option<i64>,
    /// What the line was made from (API 2025-03-31 and later; replaces the top-level
    /// `type` and `invoice_item`).
    #[serde(default)]
    pub parent: Option<LineParent>,
    /// How the line is priced.
    #[serde(default)]
    pub pricing: Option<Pricing>,
}

impl InvoiceLine {
    /// The invoice item (`ii_…`) behind the line, for lines made from invoice items.
    pub fn invoice_item(&self) -> Option<&str> {
        self.parent
            .as_ref()
            .and_then(|p| p.invoice_item_details.as_ref())
            .and_then(|d| d.invoice_item.as_deref())
    }
}

/// An invoice's payment (`invoice_payment`): which PaymentIntent collects the invoice.
/// Since API version 2025-03-31 this is the only link between the two (the invoice has
/// no `payment_intent`, the PaymentIntent no `invoice`).
#[derive(Debug, Clone, Deserialize)]
pub struct InvoicePayment {
    pub id: String,
    /// `open`, `paid`, `canceled`.
    pub status: String,
    #[serde(default)]
    pub created: i64,
    pub payment: InvoicePaymentRef,
}

/// What pays: `type` and, for `payment_intent`, its id (or the expanded object).
#[derive(Debug, Clone, Deserialize)]
pub struct InvoicePaymentRef {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub payment_intent: Option<IdOrObject>,
}

/// An expandable reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    pub fn id(&self) -> &str {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

/// An invoice retrieved with `expand[]=payments` (only what that adds).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InvoiceWithPayments {
    #[serde(default)]
    pub payments: Option<List<InvoicePayment>>,
}

/// A PaymentIntent, as far as the decline reason goes.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    /// The last attempt's error (`api_errors`); `null` after a success.
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
}

/// Stripe's error object as a PaymentIntent keeps it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PaymentError {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}
