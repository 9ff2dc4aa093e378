//! Recording what a publish did: the invoice's sync row and a line in the
//! publish log, in one transaction, only while the worker holds the lease.

use ledger::db::Database;

use super::SyncRow;
use crate::error::SyncError;

/// How a publish attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stripe holds the snapshot (a draft, or the final snapshot not yet finalized).
    Published,
    /// The final snapshot is published and finalized in Stripe.
    Finalized,
    /// The ledger voided the invoice; the Stripe draft is deleted or the invoice voided.
    Voided,
    /// A transient failure; tried again after `next_attempt_at`.
    Retry,
    /// A permanent failure; parked until an operator retries it.
    Parked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Finalized => "finalized",
            Self::Voided => "voided",
            Self::Retry => "retry",
            Self::Parked => "parked",
        }
    }
}

/// Everything one attempt learned.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: Outcome,
    /// The invoice version the attempt published (or tried to).
    pub version: i64,
    /// Stripe requests made, retries included.
    pub calls: i64,
    pub customer: Option<String>,
    pub invoice: Option<String>,
    pub stripe_status: Option<String>,
    /// The published lines (JSON), on success.
    pub snapshot: Option<String>,
    pub error: Option<String>,
    /// Not before (Unix ms), after a retryable failure.
    pub next_attempt_at: i64,
}

/// Record `attempt` for the claimed `row`; `Err(LeaseLost)` writes nothing.
pub async fn record(
    db: &Database,
    row: &SyncRow,
    owner: &str,
    attempt: &Attempt,
    now_ms: i64,
) -> Result<(), SyncError> {
    let mut tx = db.begin_write().await?;
    let (org, period) = (row.org_id.as_str(), row.period_start.as_str());
    let n = match attempt.outcome {
        Outcome::Published | Outcome::Finalized | Outcome::Voided => {
            tx.query(
                "UPDATE stripe_invoice_sync SET published_version = $4, terminal_done = $5, \
               stripe_customer_id = $6, stripe_invoice_id = $7, stripe_status = $8, \
               snapshot = $9, in_flight = false, recovery = false, attempts = 0, \
               last_error = NULL, next_attempt_at = 0, last_published_at = $10, \
               lease_owner = NULL, lease_expires_at = 0, updated_at = $10 \
             WHERE org_id = $1 AND period_start = $2 AND lease_owner = $3",
            )
            .bind(org)
            .bind(period)
            .bind(owner)
            .bind(attempt.version)
            .bind(attempt.outcome != Outcome::Published)
            .bind(attempt.customer.clone())
            .bind(attempt.invoice.clone())
            .bind(attempt.stripe_status.clone())
            .bind(attempt.snapshot.clone().unwrap_or_else(|| "{}".to_owned()))
            .bind(now_ms)
            .execute()
            .await?
        }
        Outcome::Retry | Outcome::Parked => {
            tx.query(
                "UPDATE stripe_invoice_sync SET attempts = attempts + 1, last_error = $4, \
               parked = $5, next_attempt_at = $6, \
               stripe_customer_id = COALESCE($7, stripe_customer_id), \
               stripe_invoice_id = COALESCE($8, stripe_invoice_id), \
               lease_owner = NULL, lease_expires_at = 0, updated_at = $9 \
             WHERE org_id = $1 AND period_start = $2 AND lease_owner = $3",
            )
            .bind(org)
            .bind(period)
            .bind(owner)
            .bind(attempt.error.clone())
            .bind(attempt.outcome == Outcome::Parked)
            .bind(attempt.next_attempt_at)
            .bind(attempt.customer.clone())
            .bind(attempt.invoice.clone())
            .bind(now_ms)
            .execute()
            .await?
        }
    };
    if n != 1 {
        return Err(SyncError::LeaseLost);
    }
    tx.query(
        "INSERT INTO stripe_publish (org_id, period_start, version, calls, stripe_invoice_id, \
           outcome, error, worker, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(org)
    .bind(period)
    .bind(attempt.version)
    .bind(attempt.calls)
    .bind(attempt.invoice.clone())
    .bind(attempt.outcome.as_str())
    .bind(attempt.error.clone())
    .bind(owner)
    .bind(now_ms)
    .execute()
    .await?;
    Ok(tx.commit().await?)
}

/// Un-park an invoice so the next pass tries it again (recovering from
/// Stripe first). `false` if it was not parked.
pub async fn retry_parked(db: &Database, org: &str, period: &str) -> Result<bool, SyncError> {
    let mut tx = db.begin_write().await?;
    let n = tx
        .query(
            "UPDATE stripe_invoice_sync SET parked = false, next_attempt_at = 0, in_flight = true \
         WHERE org_id = $1 AND period_start = $2 AND parked = true",
        )
        .bind(org)
        .bind(period)
        .execute()
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}
