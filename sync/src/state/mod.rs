//! The sync's own tables (`migrations/*/0003_stripe_sync.sql`): the cursor
//! over the invoice change feed, the per-invoice queue with what Stripe was
//! last given, the customers, and the publish log. Every statement that
//! records Stripe work commits with the state change it describes.

pub mod customer;
pub mod queue;
pub mod record;

use chrono::{DateTime, Utc};
use ledger::db::format_timestamp;
use ledger::OrgId;
use serde::Serialize;

use crate::error::SyncError;

/// Unix milliseconds, the sync tables' time unit.
pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The text form of a period start in the sync tables.
pub fn period_text(t: DateTime<Utc>) -> String {
    format_timestamp(t)
}

/// A row of `stripe_invoice_sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SyncRow {
    pub org_id: String,
    pub period_start: String,
    pub target_version: i64,
    pub ledger_status: String,
    pub published_version: i64,
    pub terminal_done: bool,
    pub stripe_customer_id: Option<String>,
    pub stripe_invoice_id: Option<String>,
    pub stripe_status: Option<String>,
    pub snapshot: String,
    pub in_flight: bool,
    pub recovery: bool,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub parked: bool,
    pub next_attempt_at: i64,
    pub last_published_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: i64,
    pub updated_at: i64,
}

impl SyncRow {
    /// The organization, parsed.
    pub fn org(&self) -> Result<OrgId, SyncError> {
        OrgId::new(self.org_id.clone()).map_err(|e| SyncError::Corrupt(e.to_string()))
    }

    /// The period start, parsed.
    pub fn period(&self) -> Result<DateTime<Utc>, SyncError> {
        DateTime::parse_from_rfc3339(&self.period_start)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| SyncError::Corrupt(format!("period_start: {e}")))
    }
}

/// Every column of `stripe_invoice_sync`, for `SELECT` and `RETURNING`.
pub(crate) const COLUMNS: &str = "org_id, period_start, target_version, ledger_status, \
    published_version, terminal_done, stripe_customer_id, stripe_invoice_id, stripe_status, \
    snapshot, in_flight, recovery, attempts, last_error, parked, next_attempt_at, \
    last_published_at, lease_owner, lease_expires_at, updated_at";
