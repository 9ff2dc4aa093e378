//! Payments coming back from Stripe: signed webhooks and the catch-up over
//! `GET /v1/events` turn Stripe's invoice events into ledger facts
//! (docs/payments.md).
//!
//! # Layout
//! - [`signature`]: `Stripe-Signature` verification (HMAC-SHA256 over
//!   `"{t}.{body}"`, constant-time, tolerance, several secrets in rotation).
//! - [`event`]: Stripe's event and invoice objects, as far as payments read them.
//! - [`catchup`]: the poller over `GET /v1/events` from a stored cursor
//!   (`stripe_event_cursor`, migration 0006), for webhooks that never arrived.
//! - [`apply`]: one event into the ledger, matched to our invoice by metadata
//!   or the sync's stored Stripe id — the one path webhook and catch-up share.
//! - [`decline`]: the decline reason of a failed attempt, read by the catch-up
//!   from the attempt's PaymentIntent (where Stripe keeps it).
//!
//! # Guarantees
//! - A delivery whose signature does not verify changes nothing.
//! - Every fact is keyed by Stripe's event id: however often an event is
//!   delivered or polled, it is stored once (*exactly-once effect*).
//! - Order does not matter: the fold's precedence rule decides the payment
//!   status (`projections::fold::payment`).
//! - An event no invoice matches is acknowledged and kept on the
//!   `stripe-unmatched` stream for operators, never refused (Stripe would
//!   retry a refusal for days).

pub mod apply;
pub mod catchup;
pub mod decline;
pub mod event;
pub mod signature;

pub use apply::{Applied, PaymentApplier};
pub use event::StripeEvent;
