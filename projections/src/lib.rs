//! Invoice projections over the ledger's event store.
//!
//! # Layout
//! Filled by the projections issue: the invoice fold (pure), the runner that
//! writes projection state and its checkpoint in one transaction, rebuild and
//! as-of views. Only `ledger` is a dependency: projections never call Stripe.
//! - [`period`]: billing-period arithmetic (monthly, UTC, from the anchor).
//! - [`pricing`]: a quantity under a price spec (per-unit, graduated,
//!   volume, free allowance, minimum charge), unrounded.
//! - [`fold`]: the pure invoice fold — [`Books`] / [`OrgBook`] turn events
//!   into [`Invoice`]s; no clock, no I/O, byte-identical for the same events.
#![forbid(unsafe_code)]

pub mod fold;
pub mod period;
pub mod pricing;

pub use fold::{
    Books, Catalog, FoldError, Invoice, InvoiceLine, InvoiceStatus, LineKind, LineSource, OrgBook,
};
