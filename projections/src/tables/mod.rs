//! Where projection state lives: ordinary tables the API reads directly.
//!
//! Every table is keyed by a *generation*. The `projection` row names the
//! live generation; the runner writes it, a rebuild fills the next one and
//! flips the pointer in one transaction, so readers never see a half-built
//! projection. A commit writes the fold's state, the changed invoices and
//! the checkpoint in one transaction, guarded by the checkpoint it started
//! from: two runners can never both apply the same events.

mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger::{OrgId, StoreError};
use serde_json::value::RawValue;

pub use sql::SqlTables;

/// A fold state row's JSON, as stored.
pub type State = Box<RawValue>;

use crate::fold::Invoice;
pub use crate::parked::ParkedOrg;

/// An invoice as its row holds it. The document is serialised once, when
/// the commit is made (on the thread that folds or renders), and those
/// bytes are both what the row stores and what a rebuild's checksum
/// digests.
#[derive(Debug, Clone)]
pub struct InvoiceRow {
    pub invoice: Invoice,
    pub document: Box<RawValue>,
}

impl InvoiceRow {
    pub fn new(invoice: Invoice) -> Result<Self, serde_json::Error> {
        let document = serde_json::value::to_raw_value(&invoice)?;
        Ok(Self { invoice, document })
    }
}

/// The invoice projection's name in `projection` and checkpoints.
pub const INVOICES: &str = "invoices";

/// Everything one runner step writes, atomically.
#[derive(Debug, Default)]
pub struct Commit {
    pub generation: i64,
    /// The checkpoint the step started from; the commit fails if it moved.
    pub from_position: i64,
    /// The last event position the step folded.
    pub to_position: i64,
    /// Fold state by key (`catalog`, `org:<id>`), serialised JSON.
    pub states: Vec<(String, State)>,
    /// Invoices whose content changed, in full.
    pub invoices: Vec<InvoiceRow>,
    /// Organizations this step parked (see [`crate::parked`]).
    pub parked: Vec<ParkedOrg>,
}

/// A projection's progress, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub generation: i64,
    pub position: i64,
    pub updated_at: DateTime<Utc>,
}

/// An open invoice whose period has ended (for the closer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedPeriod {
    pub org_id: OrgId,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// An invoice row the closer selected but could not read, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadablePeriod {
    pub org_id: String,
    pub period_start: String,
    pub error: String,
}

/// Ended open invoices: those to finalize and those whose row cannot be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndedPeriods {
    pub ended: Vec<EndedPeriod>,
    pub unreadable: Vec<UnreadablePeriod>,
}

/// An invoice the closer failed to finalize on its last attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFailure {
    pub org_id: String,
    /// As stored in the invoice row.
    pub period_start: String,
    pub error: String,
    pub attempts: i64,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("stored projection row is corrupt: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait ProjectionTables: Send + Sync + 'static {
    /// The live generation (1 until a rebuild swaps another in). A read:
    /// the row is created by the migration and moved by [`Self::activate`].
    async fn active_generation(&self, projection: &str) -> Result<i64, TableError>;
    /// A generation's checkpoint (0 when it has folded nothing).
    async fn checkpoint(&self, projection: &str, generation: i64)
        -> Result<Checkpoint, TableError>;
    /// Fold state rows of a generation by key; missing keys are absent.
    async fn load_states(
        &self,
        generation: i64,
        keys: &[String],
    ) -> Result<Vec<(String, State)>, TableError>;
    /// Organization books of a generation (`org:<id>` state rows) with keys
    /// after `after_key`, in key order — the directory of organizations.
    async fn org_states(
        &self,
        generation: i64,
        after_key: &str,
        limit: u32,
    ) -> Result<Vec<(String, State)>, TableError>;
    /// Write a step atomically. `Ok(false)`: the checkpoint had moved (another
    /// runner got there first) and nothing was written.
    async fn commit(&self, projection: &str, commit: &Commit) -> Result<bool, TableError>;
    /// Write states and invoices into a generation that is not live,
    /// without touching its checkpoint, in a transaction of their own: a
    /// rebuild fills its generation with several of these at once, then
    /// moves the checkpoint with a [`Self::commit`]. Until the generation is
    /// activated nobody reads it, and a crash abandons it whole.
    /// Refuses the live generation.
    async fn fill(
        &self,
        projection: &str,
        generation: i64,
        states: &[(String, State)],
        invoices: &[InvoiceRow],
    ) -> Result<(), TableError>;
    /// Reserve a new, empty generation (not live) and return it.
    async fn new_generation(&self, projection: &str) -> Result<i64, TableError>;
    /// Make `generation` the live one, atomically; returns the previous one.
    async fn activate(&self, projection: &str, generation: i64) -> Result<i64, TableError>;
    /// Delete a generation's rows (after a swap, or an abandoned rebuild).
    async fn drop_generation(&self, projection: &str, generation: i64) -> Result<(), TableError>;
    /// Every invoice of a generation, ordered by (org, period start).
    async fn invoices(&self, generation: i64) -> Result<Vec<Invoice>, TableError>;
    /// One invoice of the live generation.
    async fn invoice(
        &self,
        org: &OrgId,
        period_start: DateTime<Utc>,
    ) -> Result<Option<Invoice>, TableError>;
    /// An organization's invoices in the live generation, newest first.
    async fn org_invoices(&self, org: &OrgId) -> Result<Vec<Invoice>, TableError>;
    /// Invoices of the live generation changed after event position `after`
    /// and at or before the live checkpoint, by ascending `position` (a
    /// gap-safe change feed: everything at or below the checkpoint is
    /// committed). Returns the checkpoint the page is bounded by.
    async fn changed_invoices(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<(Vec<Invoice>, i64), TableError> {
        let generation = self.active_generation(INVOICES).await?;
        let checkpoint = self.checkpoint(INVOICES, generation).await?.position;
        let invoices = self
            .invoices_between(generation, after, checkpoint, limit)
            .await?;
        Ok((invoices, checkpoint))
    }
    /// Invoices of a generation with `after < position <= up_to`, by position.
    async fn invoices_between(
        &self,
        generation: i64,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> Result<Vec<Invoice>, TableError>;
    /// Open invoices of the live generation whose period ended before
    /// `cutoff`, but for those of parked organizations; rows that cannot be
    /// read are returned apart, as stored.
    async fn ended_open_periods(&self, cutoff: DateTime<Utc>) -> Result<EndedPeriods, TableError>;
    /// Organizations a generation has parked.
    async fn parked_orgs(
        &self,
        projection: &str,
        generation: i64,
    ) -> Result<Vec<String>, TableError>;
    /// Organizations parked in the live generation, with their errors.
    async fn parked(&self, projection: &str) -> Result<Vec<ParkedOrg>, TableError>;
    /// Record that closing an invoice failed (one more attempt).
    async fn record_close_failure(
        &self,
        org_id: &str,
        period_start: &str,
        error: &str,
    ) -> Result<(), TableError>;
    /// Forget an invoice's close failures (it was finalized).
    async fn clear_close_failure(&self, org_id: &str, period_start: &str)
        -> Result<(), TableError>;
    /// Invoices the closer failed to finalize, oldest failure first.
    async fn close_failures(&self) -> Result<Vec<CloseFailure>, TableError>;
}

/// The serde name of a unit enum variant (status, line kind) for a column.
pub(crate) fn label<T: serde::Serialize>(value: &T) -> Result<String, TableError> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(TableError::Corrupt(format!(
            "expected a label, got {other}"
        ))),
    }
}
