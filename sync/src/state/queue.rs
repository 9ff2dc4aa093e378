//! `stripe_invoice_sync` as a work queue, and the cursor that fills it.
//!
//! The feed step upserts a row per changed invoice and moves the cursor in
//! one transaction. A worker claims a due row with a lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL; SQLite has one writer), works on it, and records
//! the outcome only while it still holds the lease.

use ledger::db::Database;
use projections::Invoice;

use super::{period_text, SyncRow, COLUMNS};
use crate::error::SyncError;

/// The cursor's name in `stripe_sync_cursor`.
pub const CURSOR: &str = "stripe";

#[derive(sqlx::FromRow)]
struct Position {
    position: i64,
}

/// The feed position the sync has queued up to.
pub async fn cursor(db: &Database) -> Result<i64, SyncError> {
    let row = db
        .query_as::<Position>("SELECT position FROM stripe_sync_cursor WHERE cursor_name = $1")
        .bind(CURSOR)
        .fetch_optional()
        .await?;
    Ok(row.map_or(0, |r| r.position))
}

/// Queue `invoices` and move the cursor to `to` (never backwards), atomically.
/// A finalized invoice the ledger later voids is due again (to void it in Stripe).
pub async fn enqueue(
    db: &Database,
    invoices: &[Invoice],
    to: i64,
    now_ms: i64,
) -> Result<(), SyncError> {
    let mut tx = db.begin_write().await?;
    for invoice in invoices {
        tx.query(
            "INSERT INTO stripe_invoice_sync \
               (org_id, period_start, target_version, ledger_status, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id, period_start) DO UPDATE SET \
               terminal_done = CASE WHEN excluded.ledger_status = 'void' \
                 AND stripe_invoice_sync.ledger_status <> 'void' \
                 AND excluded.target_version > stripe_invoice_sync.target_version \
                 THEN false ELSE stripe_invoice_sync.terminal_done END, \
               ledger_status = CASE WHEN excluded.target_version >= \
                 stripe_invoice_sync.target_version THEN excluded.ledger_status \
                 ELSE stripe_invoice_sync.ledger_status END, \
               target_version = CASE WHEN excluded.target_version > \
                 stripe_invoice_sync.target_version THEN excluded.target_version \
                 ELSE stripe_invoice_sync.target_version END, \
               updated_at = excluded.updated_at",
        )
        .bind(invoice.org_id.as_str())
        .bind(period_text(invoice.period_start))
        .bind(invoice.version)
        .bind(invoice.status.as_str())
        .bind(now_ms)
        .execute()
        .await?;
    }
    tx.query(
        "INSERT INTO stripe_sync_cursor (cursor_name, position, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (cursor_name) DO UPDATE SET \
           position = CASE WHEN excluded.position > stripe_sync_cursor.position \
             THEN excluded.position ELSE stripe_sync_cursor.position END, \
           updated_at = excluded.updated_at",
    )
    .bind(CURSOR)
    .bind(to)
    .bind(now_ms)
    .execute()
    .await?;
    Ok(tx.commit().await?)
}

/// When a queued invoice is due: not parked or done, its backoff over, no
/// live lease, and either closed in the ledger or a draft whose cadence
/// allows another publish (`$4` = cadence in ms; 0 = final snapshots only).
const DUE: &str = "parked = false AND terminal_done = false AND next_attempt_at <= $3 \
    AND (lease_owner IS NULL OR lease_expires_at < $3) \
    AND (ledger_status <> 'open' OR ($4 > 0 AND published_version < target_version \
         AND COALESCE(last_published_at, 0) + $4 <= $3))";

/// Claim the next due invoice for `owner` until `lease_until`; a claim
/// that finds an unrecorded publish (`in_flight`) or takes over another
/// worker's lapsed lease sets `recovery` (the publish reads Stripe first).
pub async fn claim(
    db: &Database,
    owner: &str,
    lease_until: i64,
    now_ms: i64,
    cadence_ms: i64,
) -> Result<Option<SyncRow>, SyncError> {
    let lock = db.dialect().skip_locked();
    let sql = format!(
        "UPDATE stripe_invoice_sync SET lease_owner = $1, lease_expires_at = $2, \
           recovery = (in_flight OR lease_owner IS NOT NULL), in_flight = true, \
           updated_at = $3 \
         WHERE {DUE} AND (org_id, period_start) IN (SELECT org_id, period_start \
           FROM stripe_invoice_sync WHERE {DUE} \
           ORDER BY next_attempt_at, updated_at LIMIT 1 {lock}) \
         RETURNING {COLUMNS}"
    );
    let mut tx = db.begin_write().await?;
    let row = tx
        .query_as::<SyncRow>(&sql)
        .bind(owner)
        .bind(lease_until)
        .bind(now_ms)
        .bind(cadence_ms)
        .fetch_optional()
        .await?;
    tx.commit().await?;
    Ok(row)
}

/// Extend a held lease; `Err(LeaseLost)` if another worker took it.
pub async fn renew(
    db: &Database,
    row: &SyncRow,
    owner: &str,
    lease_until: i64,
) -> Result<(), SyncError> {
    let mut tx = db.begin_write().await?;
    let n = tx
        .query(
            "UPDATE stripe_invoice_sync SET lease_expires_at = $4 \
         WHERE org_id = $1 AND period_start = $2 AND lease_owner = $3",
        )
        .bind(row.org_id.as_str())
        .bind(row.period_start.as_str())
        .bind(owner)
        .bind(lease_until)
        .execute()
        .await?;
    tx.commit().await?;
    if n == 1 {
        Ok(())
    } else {
        Err(SyncError::LeaseLost)
    }
}

/// Store the Stripe ids learned mid-publish (so a retry finds them first).
pub async fn save_ids(
    db: &Database,
    row: &SyncRow,
    owner: &str,
    customer: &str,
    invoice: &str,
) -> Result<(), SyncError> {
    let mut tx = db.begin_write().await?;
    let n = tx
        .query(
            "UPDATE stripe_invoice_sync SET stripe_customer_id = $4, stripe_invoice_id = $5 \
         WHERE org_id = $1 AND period_start = $2 AND lease_owner = $3",
        )
        .bind(row.org_id.as_str())
        .bind(row.period_start.as_str())
        .bind(owner)
        .bind(customer)
        .bind(invoice)
        .execute()
        .await?;
    tx.commit().await?;
    if n == 1 {
        Ok(())
    } else {
        Err(SyncError::LeaseLost)
    }
}

/// Release every lease `owner` holds (shutdown); rows stay `in_flight`.
pub async fn release_all(db: &Database, owner: &str) -> Result<u64, SyncError> {
    let mut tx = db.begin_write().await?;
    let n = tx
        .query(
            "UPDATE stripe_invoice_sync SET lease_owner = NULL, lease_expires_at = 0 \
         WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute()
        .await?;
    tx.commit().await?;
    Ok(n)
}
