//! Request parameters, serialized to Stripe's form encoding with `serde_qs`
//! (`metadata[key]=…`, `period[start]=…`). `None` and empty metadata are not sent.

use rust_decimal::Decimal;
use serde::Serialize;

use super::objects::{CollectionMethod, InvoiceStatus, Metadata, Period};

/// Pagination of list endpoints (Stripe allows `limit` 1 to 100, default 10).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListParams {
    /// Page size, 1 to 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Cursor: the last id of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<String>,
    /// Cursor: the first id of the next page (walking backwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ending_before: Option<String>,
}

/// `POST /v1/customers`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateCustomer {
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Our ids.
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
}

/// `GET /v1/customers`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListCustomers {
    /// Exact, case-sensitive email filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Pagination.
    #[serde(flatten)]
    pub page: ListParams,
}

/// Whether a new invoice picks up the customer's pending invoice items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingInvoiceItemsBehavior {
    /// Attach pending items to the new invoice.
    Include,
    /// Create an empty draft.
    Exclude,
}

/// `POST /v1/invoices`: a one-off draft invoice.
#[derive(Debug, Clone, Serialize)]
pub struct CreateInvoice {
    /// The customer billed (required).
    pub customer: String,
    /// Whether Stripe advances the invoice itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_advance: Option<bool>,
    /// How Stripe collects it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection_method: Option<CollectionMethod>,
    /// Lowercase ISO currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Our ids.
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// Pending items: include or exclude (we always pass `exclude`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_invoice_items_behavior: Option<PendingInvoiceItemsBehavior>,
    /// Only with `collection_method = send_invoice`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_until_due: Option<u32>,
}

impl CreateInvoice {
    /// A draft for `customer` with everything else defaulted.
    pub fn for_customer(customer: impl Into<String>) -> Self {
        Self {
            customer: customer.into(),
            auto_advance: None,
            collection_method: None,
            currency: None,
            description: None,
            metadata: Metadata::new(),
            pending_invoice_items_behavior: None,
            days_until_due: None,
        }
    }
}

/// `POST /v1/invoices/{id}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateInvoice {
    /// Whether Stripe advances the invoice itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_advance: Option<bool>,
    /// Drafts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection_method: Option<CollectionMethod>,
    /// Drafts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_until_due: Option<u32>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keys to set; an empty value unsets a key.
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
}

/// `GET /v1/invoices`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListInvoices {
    /// Only this customer's invoices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// Only invoices in this state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<InvoiceStatus>,
    /// Pagination.
    #[serde(flatten)]
    pub page: ListParams,
}

/// `GET /v1/events`: newest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListEvents {
    /// Only events of these types (`types[]`, at most 20).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Pagination.
    #[serde(flatten)]
    pub page: ListParams,
}

/// `GET /v1/invoices/search`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchInvoices {
    /// Stripe search query, e.g. from [`metadata_search_query`].
    pub query: String,
    /// Page size, 1 to 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_page` of the previous result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

/// How an invoice item is priced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ItemPrice {
    /// A total in minor units.
    Amount {
        /// Minor units; negative reduces the invoice.
        amount: i64,
    },
    /// A unit price in minor units with up to 12 decimal places, times a quantity.
    UnitAmountDecimal {
        /// Minor units per unit, at most 12 decimal places.
        #[serde(with = "rust_decimal::serde::str")]
        unit_amount_decimal: Decimal,
        /// Non-negative whole quantity.
        quantity: u64,
    },
}

/// `POST /v1/invoiceitems`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateInvoiceItem {
    /// The customer billed (required).
    pub customer: String,
    /// The draft invoice to add it to; without one the item is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
    /// Lowercase ISO currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Description shown on the invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Service period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Our ids.
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// Amount or unit price and quantity.
    #[serde(flatten)]
    pub price: ItemPrice,
}

/// `POST /v1/invoiceitems/{id}` (items on draft invoices only).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateInvoiceItem {
    /// New price, if it changes.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub price: Option<ItemPrice>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Service period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Keys to set; an empty value unsets a key.
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
}

/// `GET /v1/invoiceitems`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListInvoiceItems {
    /// Only this customer's items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// Only this invoice's items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
    /// Only pending (or only non-pending) items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<bool>,
    /// Pagination.
    #[serde(flatten)]
    pub page: ListParams,
}

/// A search query matching every `(key, value)` of metadata:
/// `metadata['k1']:'v1' AND metadata['k2']:'v2'`, quotes and backslashes escaped.
pub fn metadata_search_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("metadata['{}']:'{}'", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}
