//! What the ledger tells the outside world: budget alerts derived from the
//! invoices, and outbound webhooks delivering notification-worthy facts.
//!
//! # Layout
//! - [`alerter`]: after each projection batch, reads the invoices that
//!   changed (its own cursor over the invoice change feed) and the
//!   organizations given a new budget version (its own cursor over the
//!   events), compares spend and forecast with the budget and appends
//!   `AlertTriggered` / `AlertResolved` with deterministic idempotency keys.
//! - [`webhooks`]: endpoints (`webhook_endpoint`), the dispatcher's fan-out
//!   of events to messages (its own cursor over the events), delivery with
//!   Standard Webhooks signatures, retries, the attempt log and replay;
//!   signing secrets stored encrypted ([`webhooks::sealing`]).
//!
//! # Guarantees
//! - **Alerts are facts, once per crossing**: each is keyed by
//!   (organization, period, budget version, threshold, kind), crossing
//!   ordinal and fact type, so a restart, a second
//!   alerter or a re-read of the feed appends nothing twice; the alerter
//!   never runs inside a rebuild (a rebuild re-renders invoices at the same
//!   positions, so the alerter's cursor has nothing new to read).
//! - **Webhooks at least once**: a message row exists before any attempt;
//!   it is leased while in flight, and a crashed dispatcher's lease runs
//!   out, so it is attempted again with the same `webhook-id` and body.
//! - **Ingestion is never slowed**: both run beside the projection runner,
//!   on their own cursors; a slow receiver only delays its own messages.
#![forbid(unsafe_code)]

pub mod alerter;
pub mod cursor;
pub mod error;
pub mod webhooks;

pub use error::NotifyError;

/// Unix milliseconds of `t`.
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}
