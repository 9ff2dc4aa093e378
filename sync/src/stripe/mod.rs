//! A typed client for the part of Stripe's API we use.
//!
//! Requests are form-encoded the way Stripe expects (`metadata[key]`, `period[start]`,
//! amounts in integer minor units); every `POST` takes an [`IdempotencyKey`]. The client
//! pins the API version (`Stripe-Version`, [`DEFAULT_API_VERSION`]) on every request, so
//! an account's default version never changes the shapes it decodes. The client
//! never retries by itself: [`StripeError::class`] says whether a retry may help and
//! [`StripeError::retry_after`] how long Stripe asked us to wait.

mod api;
mod client;
mod config;
mod customers;
mod error;
mod invoice_items;
mod invoices;
mod objects;
mod params;

pub use api::StripeApi;
pub use client::{IdempotencyKey, StripeClient};
pub use config::{
    is_api_version, StripeConfig, StripeSetup, DEFAULT_API_BASE, DEFAULT_API_VERSION,
};
pub use error::{ApiError, ErrorClass, StripeError};
pub use objects::{
    CollectionMethod, Customer, Deleted, IdOrObject, Invoice, InvoiceItem, InvoiceItemDetails,
    InvoiceLine, InvoicePayment, InvoicePaymentRef, InvoiceStatus, LineParent, List, PaymentError,
    PaymentIntent, Period, Pricing, SearchResult,
};
pub use params::{
    metadata_search_query, CreateCustomer, CreateInvoice, CreateInvoiceItem, ItemPrice,
    ListCustomers, ListEvents, ListInvoiceItems, ListInvoices, ListParams,
    PendingInvoiceItemsBehavior, SearchInvoices, UpdateInvoice, UpdateInvoiceItem,
};
