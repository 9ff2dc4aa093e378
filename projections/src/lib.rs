//! Invoice projections over the ledger's event store.
//!
//! # Layout
//! Only `ledger` is a dependency: projections never call Stripe.
//! - [`period`]: billing-period arithmetic (monthly, UTC, from the anchor).
//! - [`pricing`]: a quantity under a price spec (per-unit, graduated,
//!   volume, free allowance, minimum charge), unrounded.
//! - [`fold`]: the pure invoice fold — [`Books`] / [`OrgBook`] turn events
//!   into [`Invoice`]s; no clock, no I/O, byte-identical for the same events.
//! - [`tables`]: where projection state lives ([`tables::SqlTables`], one
//!   implementation over both backends), in generations so a rebuild can be
//!   swapped in atomically.
//! - [`runner`]: [`InvoiceProjector`] folds from its checkpoint and commits
//!   state, changed invoices and checkpoint in one transaction.
//! - [`rebuild`]: replay into a new generation and swap; checksums and
//!   verification against a replay (drift detection).
//! - [`views`]: invoices as of a position or time; a line's events.
//! - [`closer`]: finalizes ended periods and opens the next ones.
//! - [`parked`]: poison pills isolated — an organization the fold cannot
//!   process is set aside, with its error, and the others carry on.
//!
//! # Guarantees
//! - **Exactly-once effect**: each event is folded into a generation once;
//!   the checkpoint moves in the same transaction as the state it covers,
//!   guarded by the checkpoint the step started from.
//! - **Ordering**: events are folded in global order from a gap-safe read.
//! - **Determinism**: the same events give byte-identical invoices, so a
//!   rebuild, an incremental run and an as-of view agree (checksums).
//! - **Isolation**: no stored event or row of one organization stops the
//!   others' billing: the runner and a rebuild park it, the closer skips
//!   what it cannot read or close and records why.
#![forbid(unsafe_code)]

pub mod closer;
pub mod fold;
pub mod parked;
pub mod period;
pub mod pricing;
pub mod rebuild;
pub mod runner;
pub mod tables;
pub mod views;

use std::sync::Arc;

use ledger::db::Database;

pub use runner::{InvoiceProjector, Outcome, ProjectionError};
pub use tables::ProjectionTables;

/// The projection tables of a connected database.
pub fn tables_for(db: &Database) -> Arc<dyn ProjectionTables> {
    Arc::new(tables::SqlTables::new(db.clone()))
}

/// An invoice projector over a connected database.
pub fn projector_for(db: &Database) -> InvoiceProjector {
    InvoiceProjector::new(db.event_store(), tables_for(db))
}

pub use fold::{
    Books, Catalog, FoldError, Invoice, InvoiceLine, InvoiceStatus, LineKind, LinePricing,
    LineSource, OrgBook, PaymentStatus, PricingModelKind, Proration, LINE_DESCRIPTION_MAX,
};
