//! The catch-up poller: webhooks get lost, so the sync also pages Stripe's
//! `GET /v1/events` (invoice and refund types) from a stored cursor and
//! applies every event through the same idempotent path as the webhook.
//!
//! The cursor (`stripe_event_cursor`, migration 0006) names the newest event
//! applied *with every older one*. A pass lists `ending_before` it — the
//! events just newer, oldest page first — applies each page oldest first and
//! moves the cursor after the page. The first pass (no cursor) pages the whole
//! list (Stripe keeps 30 days) and applies it oldest first. A crash anywhere
//! re-applies at most one page, which stores nothing twice (event-id keys).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ledger::db::Database;
use tokio_util::sync::CancellationToken;

use super::apply::{Applied, PaymentApplier};
use super::decline::record_decline;
use super::event::{StripeEvent, INVOICE_EVENT_TYPES};
use crate::error::SyncError;
use crate::projector::Outcome;
use crate::stripe::{ListEvents, ListParams, StripeApi, StripeError};

/// The cursor's name.
pub const CURSOR: &str = "invoices";

/// How long Stripe keeps events: unmatched ones older than this are left
/// to the operator.
const RETENTION_DAYS: i64 = 30;

/// Events per page (Stripe's maximum).
const PAGE: u32 = 100;

/// Every event type the catch-up asks for.
pub fn event_types() -> Vec<String> {
    INVOICE_EVENT_TYPES
        .iter()
        .copied()
        .chain(["credit_note.created", "charge.refunded"])
        .map(str::to_owned)
        .collect()
}

/// Where the catch-up stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct CursorRow {
    pub last_event_id: Option<String>,
    /// Unix ms.
    pub last_event_created: i64,
    /// Unix ms; 0 before the first complete pass.
    pub caught_up_at: i64,
}

/// The stored cursor (default before the first pass). A read.
pub async fn cursor(db: &Database) -> Result<CursorRow, SyncError> {
    Ok(db
        .query_as::<CursorRow>(
            "SELECT last_event_id, last_event_created, caught_up_at FROM stripe_event_cursor \
             WHERE cursor_name = $1",
        )
        .bind(CURSOR)
        .fetch_optional()
        .await?
        .unwrap_or_default())
}

async fn save(db: &Database, row: &CursorRow) -> Result<(), SyncError> {
    let mut tx = db.begin_write().await?;
    tx.query(
        "INSERT INTO stripe_event_cursor \
           (cursor_name, last_event_id, last_event_created, caught_up_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (cursor_name) DO UPDATE SET \
           last_event_id = excluded.last_event_id, \
           last_event_created = excluded.last_event_created, \
           caught_up_at = excluded.caught_up_at, updated_at = excluded.updated_at",
    )
    .bind(CURSOR)
    .bind(row.last_event_id.clone())
    .bind(row.last_event_created)
    .bind(row.caught_up_at)
    .bind(Utc::now().timestamp_millis())
    .execute()
    .await?;
    Ok(tx.commit().await?)
}

/// The poller over one database and one Stripe account.
pub struct CatchUp {
    db: Database,
    api: Arc<dyn StripeApi>,
    applier: PaymentApplier,
    page: u32,
}

impl CatchUp {
    pub fn new(db: &Database, api: Arc<dyn StripeApi>) -> Self {
        Self {
            db: db.clone(),
            applier: PaymentApplier::new(db),
            api,
            page: PAGE,
        }
    }

    /// Events per page, 1 to 100 (tests use small pages).
    pub fn with_page_size(mut self, page: u32) -> Self {
        self.page = page.clamp(1, PAGE);
        self
    }

    async fn list(&self, page: ListParams) -> Result<crate::stripe::List<StripeEvent>, SyncError> {
        let params = ListEvents {
            types: event_types(),
            page,
        };
        Ok(self.api.list_events(&params).await?)
    }

    async fn apply_oldest_first(
        &self,
        newest_first: &[StripeEvent],
        row: &mut CursorRow,
    ) -> Result<(), SyncError> {
        for event in newest_first.iter().rev() {
            let applied = self.applier.apply(event, "catch-up").await?;
            tracing::debug!(stripe_event = %event.id, outcome = applied.as_str(), "caught up");
            if matches!(applied, Applied::Recorded | Applied::Duplicate) {
                let declined = record_decline(&self.applier, self.api.as_ref(), event).await?;
                tracing::debug!(stripe_event = %event.id, outcome = declined.as_str(), "decline");
            }
            row.last_event_id = Some(event.id.clone());
            row.last_event_created = event.created.saturating_mul(1000);
        }
        Ok(())
    }

    /// Once caught up: apply the unmatched events (of Stripe's retention
    /// window) whose invoice the ledger has learnt since — the sync stores a
    /// Stripe invoice id after the webhook came, say.
    async fn reexamine(&self) -> Result<(), SyncError> {
        let since = Utc::now() - chrono::Duration::days(RETENTION_DAYS);
        let matched = self.applier.reexamine_unmatched(since).await?;
        if matched > 0 {
            tracing::info!(matched, "unmatched Stripe events applied");
        }
        Ok(())
    }

    /// One step: one page after the cursor (or the whole first pass).
    /// `Idle` once nothing newer is listed.
    pub async fn try_process_next(&self) -> Result<Outcome, SyncError> {
        let mut row = cursor(&self.db).await?;
        let Some(after) = row.last_event_id.clone() else {
            return self.first_pass(row).await;
        };
        let page = ListParams {
            limit: Some(self.page),
            ending_before: Some(after),
            starting_after: None,
        };
        let list = match self.list(page).await {
            Ok(list) => list,
            // The cursor event is gone (older than Stripe keeps): start over.
            Err(SyncError::Stripe(e)) if is_missing(&e) => {
                tracing::warn!("the catch-up cursor event is gone from Stripe; starting over");
                return self.first_pass(CursorRow::default()).await;
            }
            Err(e) => return Err(e),
        };
        if list.data.is_empty() {
            row.caught_up_at = Utc::now().timestamp_millis();
            save(&self.db, &row).await?;
            self.reexamine().await?;
            return Ok(Outcome::Idle);
        }
        self.apply_oldest_first(&list.data, &mut row).await?;
        if !list.has_more {
            row.caught_up_at = Utc::now().timestamp_millis();
        }
        save(&self.db, &row).await?;
        Ok(Outcome::Worked)
    }

    async fn first_pass(&self, mut row: CursorRow) -> Result<Outcome, SyncError> {
        let mut all: Vec<StripeEvent> = Vec::new();
        let mut after = None;
        loop {
            let page = ListParams {
                limit: Some(self.page),
                starting_after: after.clone(),
                ending_before: None,
            };
            let list = self.list(page).await?;
            after = list.data.last().map(|e| e.id.clone());
            all.extend(list.data);
            if !list.has_more || after.is_none() {
                break;
            }
        }
        // Oldest first, saving the cursor after every page's worth.
        let chunks: Vec<&[StripeEvent]> = all.rchunks(self.page as usize).collect();
        for chunk in chunks {
            self.apply_oldest_first(chunk, &mut row).await?;
            save(&self.db, &row).await?;
        }
        row.caught_up_at = Utc::now().timestamp_millis();
        save(&self.db, &row).await?;
        self.reexamine().await?;
        Ok(if all.is_empty() {
            Outcome::Idle
        } else {
            Outcome::Worked
        })
    }

    /// Every `interval`, page to the newest event; until `shutdown`. The first
    /// pass comes one interval after the start (webhooks cover the moment).
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let mut wait = interval;
        while !shutdown.is_cancelled() {
            if wait > Duration::ZERO {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            wait = match self.try_process_next().await {
                Ok(Outcome::Worked) => Duration::ZERO,
                Ok(Outcome::Idle) => interval,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "payments catch-up failed");
                    interval
                }
            };
        }
    }
}

fn is_missing(e: &StripeError) -> bool {
    e.status() == Some(404)
}
