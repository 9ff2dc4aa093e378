//! Publishing invoice snapshots to Stripe.
//!
//! # Layout
//! - [`stripe`]: a typed client for the subset of Stripe's REST API the sync uses —
//!   configuration from the environment ([`stripe::StripeSetup`]), form-encoded
//!   requests, typed objects and parameters, and errors split into retryable and
//!   permanent ([`stripe::StripeError::class`]). [`stripe::StripeApi`] is the same set of
//!   operations as a trait object, for the daemon to hold as `Arc<dyn StripeApi>`.
//! - [`snapshot`]: pure — the lines Stripe should hold (integer minor units), the diff
//!   against what it was last given, idempotency keys and metadata.
//! - [`state`]: the sync's own tables — cursor, per-invoice queue with leases, customers,
//!   publish log (`migrations/*/0003_stripe_sync.sql`).
//! - [`breaker`]: the process's circuit breaker — stop sending while Stripe keeps
//!   failing, probe slowly, resume on the first answer; its state for the API.
//! - [`pace`]: the breaker, the shared token bucket, `Retry-After` and backoff with full
//!   jitter, every wait bounded by the invoice's lease.
//! - [`projector`]: [`SyncProjector`] — feed the queue from the invoice change feed,
//!   claim and publish one invoice per step (`publish`: find, diff, finalize, audit).
//! - [`daemon`]: the long-running loop: a feeder and publishing workers, graceful
//!   shutdown (the `billing` pipeline runs it beside the projection runner and closer).
//! - [`status`]: per-invoice sync status and parked-invoice recovery, for the API.
//! - [`reconcile`]: Stripe's invoices compared with the ledger's.
//!
//! # Guarantees
//! - Every `POST` carries an [`stripe::IdempotencyKey`] naming the object and what is
//!   sent (never the invoice version, so a daemon taking over sends the same keys), and
//!   every object our ids in `metadata`; a retry after a crash, a lost answer or a
//!   lapsed lease first re-reads Stripe (stored ids, else lists matched by metadata), so
//!   even after the 24 h key window nothing is created twice (*exactly-once effect*).
//! - No write without the lease: it is renewed while a publish runs, checked before
//!   every write, and no wait outlasts it (the invoice is given back instead).
//! - A Stripe invoice is finalized only after its lines were read back, corrected and
//!   found equal to the ledger's, total to the cent; otherwise it parks, still a draft.
//! - Every request pins `Stripe-Version`; an outage costs one probe per interval.
//! - The cursor moves in the same transaction as the queue rows it fills; a publish is
//!   recorded (state + log) in one transaction, only by the lease holder (*at-least-once*
//!   delivery of every invoice change, coalesced to the newest version).
//! - A permanent Stripe error parks one invoice; others and the cursor move on.
//! - The API key never leaves a [`secrecy::SecretString`] except in the `Authorization`
//!   header (marked sensitive); it is never logged or printed. The client itself never
//!   retries; [`pace::Caller`] owns the retry policy.
#![forbid(unsafe_code)]

pub mod breaker;
pub mod daemon;
pub mod error;
pub mod options;
pub mod pace;
pub mod payments;
pub mod projector;
mod publish;
pub mod reconcile;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod stripe;

pub use error::SyncError;
pub use options::SyncOptions;
pub use projector::{Outcome, SyncProjector};
