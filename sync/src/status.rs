//! What the API and operators see of the sync: per-invoice status (Stripe
//! ids, last published version, attempts, last error, parked), a summary
//! for metrics, and putting a parked invoice back in the queue.

use chrono::{DateTime, Utc};
use ledger::db::Database;
use ledger::OrgId;
use serde::Serialize;

use crate::error::SyncError;
use crate::state::{period_text, queue, record, SyncRow, COLUMNS};

/// Which invoices [`list_sync_status`] returns.
#[derive(Debug, Clone, Default)]
pub struct StatusFilter {
    /// Only this organization's invoices.
    pub org: Option<OrgId>,
    /// Only parked invoices.
    pub parked_only: bool,
    /// Only invoices Stripe has not caught up with.
    pub pending_only: bool,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// One invoice's sync state.
pub async fn invoice_sync_status(
    db: &Database,
    org: &OrgId,
    period_start: DateTime<Utc>,
) -> Result<Option<SyncRow>, SyncError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM stripe_invoice_sync WHERE org_id = $1 AND period_start = $2"
    );
    Ok(db
        .query_as::<SyncRow>(&sql)
        .bind(org.as_str())
        .bind(period_text(period_start))
        .fetch_optional()
        .await?)
}

/// Invoices' sync state, parked first, then by organization and period.
pub async fn list_sync_status(
    db: &Database,
    filter: &StatusFilter,
) -> Result<Vec<SyncRow>, SyncError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM stripe_invoice_sync \
         WHERE ($1 IS NULL OR org_id = $1) AND ($2 = false OR parked = true) \
           AND ($3 = false OR (terminal_done = false AND \
                (published_version < target_version OR ledger_status <> 'open'))) \
         ORDER BY parked DESC, org_id, period_start LIMIT $4"
    );
    Ok(db
        .query_as::<SyncRow>(&sql)
        .bind(filter.org.as_ref().map(|o| o.as_str().to_owned()))
        .bind(filter.parked_only)
        .bind(filter.pending_only)
        .bind(i64::from(filter.limit.unwrap_or(100)))
        .fetch_all()
        .await?)
}

/// Put a parked invoice back in the queue (it re-reads Stripe first).
/// `false` if it was not parked.
pub async fn retry_parked(
    db: &Database,
    org: &OrgId,
    period_start: DateTime<Utc>,
) -> Result<bool, SyncError> {
    record::retry_parked(db, org.as_str(), &period_text(period_start)).await
}

/// Counts for `/metrics` and `billing sync` logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SyncSummary {
    /// Invoices the sync knows.
    pub invoices: i64,
    /// Invoices the ledger has closed that Stripe has not finalized (or voided) yet,
    /// parked ones excluded.
    pub final_pending: i64,
    /// Open invoices whose newest version Stripe does not hold yet (a draft waits for
    /// its cadence; with cadence 0 drafts are never published).
    pub drafts_behind: i64,
    /// Parked invoices (need an operator).
    pub parked: i64,
    /// Invoices waiting to retry after a transient failure.
    pub retrying: i64,
    /// The change-feed position queued up to.
    #[sqlx(default)]
    pub cursor: i64,
    /// The invoice projection's checkpoint: `checkpoint - cursor` is the feed lag in
    /// event positions (0 when the sync has seen every committed invoice change).
    #[sqlx(default)]
    pub checkpoint: i64,
}

/// The sync's counters.
pub async fn summary(db: &Database) -> Result<SyncSummary, SyncError> {
    let mut s = db
        .query_as::<SyncSummary>(
            "SELECT COUNT(*) AS invoices, \
           COALESCE(SUM(CASE WHEN terminal_done = false AND ledger_status <> 'open' \
             AND NOT parked THEN 1 ELSE 0 END), 0) AS final_pending, \
           COALESCE(SUM(CASE WHEN ledger_status = 'open' AND published_version < target_version \
             AND NOT parked THEN 1 ELSE 0 END), 0) AS drafts_behind, \
           COALESCE(SUM(CASE WHEN parked THEN 1 ELSE 0 END), 0) AS parked, \
           COALESCE(SUM(CASE WHEN attempts > 0 AND NOT parked THEN 1 ELSE 0 END), 0) AS retrying \
         FROM stripe_invoice_sync",
        )
        .fetch_one()
        .await?;
    s.cursor = queue::cursor(db).await?;
    let tables = projections::tables_for(db);
    let generation = tables
        .active_generation(projections::tables::INVOICES)
        .await?;
    s.checkpoint = tables
        .checkpoint(projections::tables::INVOICES, generation)
        .await?
        .position;
    Ok(s)
}
