//! Stripe's operations, as the fake implements them.

mod customers;
mod invoices;
mod items;
mod payments;
mod search;

use axum::http::Method;
use serde_json::Value;

use crate::error::StripeErr;
use crate::params::{Kind, Params, Spec};
use crate::store::Store;
use crate::FakeConfig;

/// One operation the fake serves, with the ids from its path.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    CustomerCreate,
    CustomerList,
    CustomerGet(String),
    InvoiceCreate,
    InvoiceList,
    InvoiceSearch,
    InvoiceGet(String),
    InvoiceUpdate(String),
    InvoiceDelete(String),
    InvoiceFinalize(String),
    InvoiceVoid(String),
    InvoiceLines(String),
    ItemCreate,
    ItemList,
    ItemGet(String),
    ItemUpdate(String),
    ItemDelete(String),
    InvoicePay(String),
    InvoiceMarkUncollectible(String),
    WebhookEndpointCreate,
    EventList,
    PaymentIntentGet(String),
}

const EXPAND: (&str, Kind) = ("expand", Kind::Array);
const LIMIT: (&str, Kind) = ("limit", Kind::Int);
const AFTER: (&str, Kind) = ("starting_after", Kind::Str);
const BEFORE: (&str, Kind) = ("ending_before", Kind::Str);
const METADATA: (&str, Kind) = ("metadata", Kind::Map);
const COLLECTION: (&str, Kind) = (
    "collection_method",
    Kind::Enum(&["charge_automatically", "send_invoice"]),
);
const PERIOD: (&str, Kind) = ("period", Kind::Object(&["start", "end"]));

impl Op {
    /// The operation for a method and path, if the fake serves it.
    pub fn resolve(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let id = |s: &str| s.to_owned();
        let op = match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "customers"]) => Self::CustomerCreate,
            ("GET", ["v1", "customers"]) => Self::CustomerList,
            ("GET", ["v1", "customers", c]) => Self::CustomerGet(id(c)),
            ("POST", ["v1", "invoices"]) => Self::InvoiceCreate,
            ("GET", ["v1", "invoices"]) => Self::InvoiceList,
            ("GET", ["v1", "invoices", "search"]) => Self::InvoiceSearch,
            ("GET", ["v1", "invoices", i]) => Self::InvoiceGet(id(i)),
            ("POST", ["v1", "invoices", i]) => Self::InvoiceUpdate(id(i)),
            ("DELETE", ["v1", "invoices", i]) => Self::InvoiceDelete(id(i)),
            ("POST", ["v1", "invoices", i, "finalize"]) => Self::InvoiceFinalize(id(i)),
            ("POST", ["v1", "invoices", i, "void"]) => Self::InvoiceVoid(id(i)),
            ("GET", ["v1", "invoices", i, "lines"]) => Self::InvoiceLines(id(i)),
            ("POST", ["v1", "invoiceitems"]) => Self::ItemCreate,
            ("GET", ["v1", "invoiceitems"]) => Self::ItemList,
            ("GET", ["v1", "invoiceitems", i]) => Self::ItemGet(id(i)),
            ("POST", ["v1", "invoiceitems", i]) => Self::ItemUpdate(id(i)),
            ("DELETE", ["v1", "invoiceitems", i]) => Self::ItemDelete(id(i)),
            ("POST", ["v1", "invoices", i, "pay"]) => Self::InvoicePay(id(i)),
            ("POST", ["v1", "invoices", i, "mark_uncollectible"]) => {
                Self::InvoiceMarkUncollectible(id(i))
            }
            ("POST", ["v1", "webhook_endpoints"]) => Self::WebhookEndpointCreate,
            ("GET", ["v1", "events"]) => Self::EventList,
            ("GET", ["v1", "payment_intents", i]) => Self::PaymentIntentGet(id(i)),
            _ => return None,
        };
        Some(op)
    }

    /// The parameters the operation accepts (a subset of Stripe's).
    pub fn spec(&self) -> Spec {
        match self {
            Self::CustomerCreate => &[
                ("email", Kind::Str),
                ("name", Kind::Str),
                ("description", Kind::Str),
                METADATA,
                EXPAND,
            ],
            Self::CustomerList => &[("email", Kind::Str), LIMIT, AFTER, BEFORE, EXPAND],
            Self::InvoiceCreate => &[
                ("customer", Kind::Str),
                ("auto_advance", Kind::Bool),
                COLLECTION,
                ("currency", Kind::Str),
                ("description", Kind::Str),
                METADATA,
                (
                    "pending_invoice_items_behavior",
                    Kind::Enum(&["include", "exclude"]),
                ),
                ("days_until_due", Kind::Int),
                EXPAND,
            ],
            Self::InvoiceList => &[
                ("customer", Kind::Str),
                (
                    "status",
                    Kind::Enum(&["draft", "open", "paid", "uncollectible", "void"]),
                ),
                COLLECTION,
                LIMIT,
                AFTER,
                BEFORE,
                EXPAND,
            ],
            Self::InvoiceSearch => &[("query", Kind::Str), LIMIT, ("page", Kind::Str), EXPAND],
            Self::InvoiceUpdate(_) => &[
                ("auto_advance", Kind::Bool),
                COLLECTION,
                ("days_until_due", Kind::Int),
                ("description", Kind::Str),
                METADATA,
                EXPAND,
            ],
            Self::InvoiceFinalize(_) => &[("auto_advance", Kind::Bool), EXPAND],
            Self::InvoiceLines(_) => &[LIMIT, AFTER, BEFORE, EXPAND],
            Self::ItemCreate => &[
                ("customer", Kind::Str),
                ("invoice", Kind::Str),
                ("amount", Kind::Int),
                ("unit_amount_decimal", Kind::Decimal),
                ("quantity", Kind::Int),
                ("currency", Kind::Str),
                ("description", Kind::Str),
                PERIOD,
                METADATA,
                EXPAND,
            ],
            Self::ItemUpdate(_) => &[
                ("amount", Kind::Int),
                ("unit_amount_decimal", Kind::Decimal),
                ("quantity", Kind::Int),
                ("description", Kind::Str),
                PERIOD,
                METADATA,
                EXPAND,
            ],
            Self::ItemList => &[
                ("customer", Kind::Str),
                ("invoice", Kind::Str),
                ("pending", Kind::Bool),
                LIMIT,
                AFTER,
                BEFORE,
                EXPAND,
            ],
            Self::InvoicePay(_) => &[
                ("paid_out_of_band", Kind::Bool),
                ("forgive", Kind::Bool),
                ("off_session", Kind::Bool),
                ("payment_method", Kind::Str),
                ("source", Kind::Str),
                ("mandate", Kind::Str),
                EXPAND,
            ],
            Self::WebhookEndpointCreate => &[
                ("url", Kind::Str),
                ("enabled_events", Kind::Array),
                ("description", Kind::Str),
                ("api_version", Kind::Str),
                METADATA,
                EXPAND,
            ],
            Self::EventList => &[
                ("type", Kind::Str),
                ("types", Kind::Array),
                LIMIT,
                AFTER,
                BEFORE,
                EXPAND,
            ],
            Self::PaymentIntentGet(_) => &[("client_secret", Kind::Str), EXPAND],
            Self::CustomerGet(_)
            | Self::InvoiceMarkUncollectible(_)
            | Self::InvoiceGet(_)
            | Self::InvoiceVoid(_)
            | Self::ItemGet(_)
            | Self::InvoiceDelete(_)
            | Self::ItemDelete(_) => &[EXPAND],
        }
    }

    /// Runs the operation against the store; all effects happen here, synchronously.
    pub fn execute(
        &self,
        store: &mut Store,
        config: &FakeConfig,
        params: &Params,
    ) -> Result<Value, StripeErr> {
        match self {
            Self::CustomerCreate => customers::create(store, params),
            Self::CustomerList => customers::list(store, params),
            Self::CustomerGet(id) => customers::retrieve(store, id),
            Self::InvoiceCreate => invoices::create(store, config, params),
            Self::InvoiceList => invoices::list(store, config, params),
            Self::InvoiceSearch => search::invoices(store, config, params),
            Self::InvoiceGet(id) => invoices::retrieve(store, config, id).map(|mut invoice| {
                payments::with_payments(store, &mut invoice, params);
                invoice
            }),
            Self::InvoiceUpdate(id) => invoices::update(store, config, id, params),
            Self::InvoiceDelete(id) => invoices::delete(store, id),
            Self::InvoiceFinalize(id) => invoices::finalize(store, config, id, params),
            Self::InvoiceVoid(id) => invoices::void(store, config, id),
            Self::InvoiceLines(id) => invoices::lines(store, id, params),
            Self::ItemCreate => items::create(store, config, params),
            Self::ItemList => items::list(store, params),
            Self::ItemGet(id) => items::retrieve(store, id),
            Self::ItemUpdate(id) => items::update(store, id, params),
            Self::ItemDelete(id) => items::delete(store, id),
            Self::InvoicePay(id) => payments::pay(store, config, id, params),
            Self::InvoiceMarkUncollectible(id) => payments::mark_uncollectible(store, config, id),
            Self::WebhookEndpointCreate => payments::create_endpoint(store, params),
            Self::EventList => payments::list_events(store, params),
            Self::PaymentIntentGet(id) => payments::retrieve_payment_intent(store, id),
        }
    }
}
