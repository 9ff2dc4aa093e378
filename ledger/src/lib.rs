//! The ledger core: events, money primitives and the append-only event store.
//!
//! # Layout
//! - [`money`]: `Quantity`, `UnitPrice`, `Amount`, `Currency` on
//!   `rust_decimal`, validated at the boundary (no NaN, no out-of-range,
//!   at most 12 decimal places).
//! - [`pricing`]: price specifications (per-unit, graduated, volume, free
//!   allowance, minimum charge) as catalog events carry them.
//! - [`event`]: the stored envelope ([`NewEvent`], [`RecordedEvent`]) and the
//!   typed, versioned domain events ([`LedgerEvent`]).
//! - [`store`]: the [`EventStore`] trait and its one implementation over
//!   both backends, [`store::SqlStore`].
//! - [`db`]: the storage layer every crate shares — picking a backend from
//!   `DATABASE_URL`, connecting, migrating, one SQL text for both backends,
//!   column types that decode the same on both, write transactions.
//!
//! # Guarantees
//! - **Immutability**: the database refuses UPDATE and DELETE on the event
//!   table (a trigger on both backends), whatever the code does.
//! - **Atomic appends**: one call appends to one or several streams in one
//!   transaction; all of it is stored or none.
//! - **Optimistic concurrency**: an append with a stale expected version
//!   fails with [`StoreError::Conflict`] and writes nothing.
//! - **Idempotency**: an idempotency key is stored at most once; a repeat,
//!   sequential or racing, stores nothing and reports the original event.
//! - **Gap-safe total order**: global positions become visible in increasing
//!   order, so a reader that tails [`EventStore::read_all`] and advances its
//!   cursor never passes an event that commits later (see `store`).
#![forbid(unsafe_code)]

pub mod db;
pub mod event;
pub mod money;
pub mod pricing;
pub mod schema;
pub mod store;

pub use event::{EventMetadata, LedgerEvent, NewEvent, OrgId, RecordedEvent, StreamId};
pub use store::{
    AppendOutcome, AppendResult, AuditQuery, EventStore, ExpectedVersion, Page, ReplayedEvent,
    StoreError, StreamAppend,
};
