//! A stateful, in-memory fake of the part of Stripe's API the sync uses, faithful to
//! Stripe's documented behaviour, plus a checker that holds requests to Stripe's own
//! OpenAPI description.
//!
//! # Layout
//! - [`spawn`] / [`FakeHandle`] (`server`): our own hyper-util accept loop around an axum
//!   router, so a handler can close its connection unanswered ("commit then drop").
//! - `pipeline`: every `/v1` request is recorded, authenticated (`Bearer sk_test_…`),
//!   its `Stripe-Version` checked and echoed, put through injected [`Fault`]s, checked for form encoding and known parameters,
//!   run under Stripe's idempotency rules (`idempotency`), then executed.
//! - `api`: customers, invoices (with lines and search) and invoice items over the
//!   in-memory `store`; `model` renders Stripe's JSON objects in the shapes of the
//!   current API version ([`API_VERSION`], Stripe's `fixtures3.json`).
//! - `webhooks`: events (`GET /v1/events`) delivered to registered endpoints
//!   (`POST /v1/webhook_endpoints`), signed, retried on non-2xx, with injectable
//!   delivery faults ([`WebhookFault`]: drop, duplicate, reorder, delay); payments
//!   (`POST /v1/invoices/{id}/pay`, `mark_uncollectible`) emit the invoice events.
//! - `control`: `/__fake/...` endpoints to inject faults, read the request log, check
//!   conformance and reset, for when the fake runs alone (`billing stripe-fake`).
//! - [`conformance`]: checks recorded requests (and response objects) against the
//!   committed extract of Stripe's OpenAPI description (`openapi/stripe-subset.json`).
//!
//! # Guarantees
//! - Each request's effect happens at once under one lock, after any injected latency:
//!   a request dropped before that point (client gone) changed nothing and frees its
//!   idempotency key; after it, its result is stored for replay.
//! - Lists are newest first and pages never lose or repeat an object while no objects
//!   are created between pages; invoice lines are listed in the order they were added.
//! - Search is eventually consistent: a change is visible after
//!   [`FakeConfig::search_index_delay`].
//! - Never panics on input; bad requests get Stripe-shaped errors.
#![forbid(unsafe_code)]
// The invoice object is one large `json!` literal.
#![recursion_limit = "256"]

mod api;
mod config;
pub mod conformance;
mod control;
mod error;
mod faults;
mod idempotency;
mod model;
mod params;
mod pipeline;
mod server;
mod state;
mod store;
mod webhooks;

use std::sync::Arc;

use axum::Router;

pub use config::{FakeConfig, API_VERSION};
pub use error::FakeError;
pub use faults::{Fault, FaultKind};
pub use server::{spawn, FakeHandle};
pub use state::RecordedRequest;
pub use webhooks::{signature_header, DeliveryFaultKind, WebhookFault};

fn router(shared: Arc<state::Shared>) -> Router {
    control::routes()
        .fallback(pipeline::handle)
        .with_state(shared)
}
