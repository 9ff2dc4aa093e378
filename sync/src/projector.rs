//! The sync projector: reads the invoice change feed into its queue and
//! publishes due invoices to Stripe, one claimed invoice per step.
//!
//! It is not a projection handler: it consumes the *invoice change feed*
//! (`ProjectionTables::changed_invoices`), never events, so it has no type
//! a rebuild (which replays events into a fold) could accept — replaying
//! history can never call Stripe.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ledger::db::Database;
use ledger::EventStore;
use projections::ProjectionTables;
use tracing::Instrument;

use crate::breaker::{CircuitBreaker, StripeHealth};
use crate::error::SyncError;
use crate::options::SyncOptions;
use crate::pace::{Backoff, Caller, TokenBucket};
use crate::publish::Publish;
use crate::state::record::{record, Attempt, Outcome as Recorded};
use crate::state::{millis, queue, SyncRow};
use crate::stripe::StripeApi;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Queued changes or worked on an invoice (successfully or not).
    Worked,
    /// Nothing to queue and nothing due.
    Idle,
}

/// A clock, injectable for tests of the draft cadence.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

fn retry_after(e: &SyncError) -> Option<Duration> {
    match e {
        SyncError::Stripe(e) => e.retry_after(),
        SyncError::Deferred { wait, .. } => Some(*wait),
        _ => None,
    }
}

/// Feed page size.
const FEED_PAGE: u32 = 500;

/// The sync projector over one database and one Stripe account; share it
/// (`Arc`) between workers so they share the token bucket.
pub struct SyncProjector {
    pub(crate) db: Database,
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) tables: Arc<dyn ProjectionTables>,
    pub(crate) caller: Caller,
    pub(crate) options: SyncOptions,
    pub(crate) clock: Clock,
    feed_page: u32,
    /// The raw client, for the payments catch-up (which paces itself by its interval).
    pub(crate) api: Arc<dyn StripeApi>,
}

impl SyncProjector {
    pub fn new(db: Database, api: Arc<dyn StripeApi>, options: SyncOptions) -> Self {
        let bucket = Arc::new(TokenBucket::new(options.rate_limit, options.rate_limit));
        let breaker = Arc::new(CircuitBreaker::new(options.breaker));
        let backoff = Backoff {
            base: options.backoff_base,
            cap: options.backoff_cap,
        };
        Self {
            store: db.event_store(),
            tables: projections::tables_for(&db),
            caller: Caller::new(
                api.clone(),
                bucket,
                breaker,
                backoff,
                options.tries_per_call,
            ),
            api,
            db,
            options,
            clock: Arc::new(Utc::now),
            feed_page: FEED_PAGE,
        }
    }

    /// Use `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Read the change feed `page` invoices at a time (default 500).
    pub fn with_feed_page(mut self, page: u32) -> Self {
        self.feed_page = page.max(1);
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Whether Stripe is reachable, as this process's circuit breaker sees it ("Stripe
    /// unavailable since …"), with counters for metrics.
    pub fn stripe_health(&self) -> StripeHealth {
        self.caller.breaker().health()
    }

    /// The process's circuit breaker, to hold on to for the API and metrics.
    pub fn breaker(&self) -> Arc<CircuitBreaker> {
        self.caller.breaker().clone()
    }

    /// Queue every invoice change after the cursor; returns how many.
    ///
    /// One event can change many invoices at one position (a back-dated
    /// price), so a full page only advances the cursor past the positions it
    /// holds completely; a page that is all one position is re-read larger.
    pub async fn feed(&self) -> Result<usize, SyncError> {
        let mut queued = 0;
        let mut limit = self.feed_page;
        loop {
            let after = queue::cursor(&self.db).await?;
            let (mut page, checkpoint) = self.tables.changed_invoices(after, limit).await?;
            let full = page.len() == limit as usize;
            let to = match (page.first(), page.last()) {
                (Some(first), Some(last)) if full => {
                    let last = last.position;
                    if first.position == last {
                        limit = limit.saturating_mul(2);
                        continue;
                    }
                    page.retain(|i| i.position < last);
                    last - 1
                }
                _ => checkpoint,
            };
            if page.is_empty() && to <= after {
                return Ok(queued);
            }
            queue::enqueue(&self.db, &page, to, millis(self.now())).await?;
            queued += page.len();
            if !full {
                return Ok(queued);
            }
            limit = self.feed_page;
        }
    }

    /// Claim one due invoice as `worker` and publish it. While the circuit breaker is
    /// open nothing is claimed, except by one worker when a probe is due.
    pub async fn publish_next(&self, worker: &str) -> Result<Outcome, SyncError> {
        if !self.caller.breaker().admit_claim() {
            return Ok(Outcome::Idle);
        }
        let now = millis(self.now());
        let lease_until = now + self.options.lease.as_millis() as i64;
        let cadence = self.options.draft_cadence.as_millis() as i64;
        let Some(row) = queue::claim(&self.db, worker, lease_until, now, cadence).await? else {
            return Ok(Outcome::Idle);
        };
        let span = tracing::info_span!("publish", org = %row.org_id, period = %row.period_start,
            version = row.target_version, recovery = row.recovery);
        self.publish_claimed(&row, worker).instrument(span).await?;
        Ok(Outcome::Worked)
    }

    async fn publish_claimed(&self, row: &SyncRow, worker: &str) -> Result<(), SyncError> {
        let mut work = Publish::new(self, row, worker);
        let result = work.run().await;
        let attempt = match result {
            Ok(done) => done,
            Err(SyncError::LeaseLost) => {
                tracing::warn!("lease lost mid-publish; another worker will recover");
                return Ok(());
            }
            Err(e) => {
                let permanent = e.is_permanent();
                let delay = self
                    .caller
                    .backoff()
                    .delay(row.attempts.clamp(0, 16) as u32 + 1, retry_after(&e))
                    .max(Duration::from_millis(50));
                if matches!(e, SyncError::Deferred { .. }) {
                    // Pacing, not a failure: the invoice waits its turn.
                    tracing::debug!(error = %e, "publish deferred");
                } else {
                    tracing::warn!(error = %e, permanent, "publish failed");
                }
                work.failed(
                    if permanent {
                        Recorded::Parked
                    } else {
                        Recorded::Retry
                    },
                    e.to_string(),
                    millis(self.now()) + delay.as_millis() as i64,
                )
            }
        };
        // Stop renewing before recording: the record gives the lease back.
        drop(work);
        self.record(row, worker, &attempt).await
    }

    async fn record(
        &self,
        row: &SyncRow,
        worker: &str,
        attempt: &Attempt,
    ) -> Result<(), SyncError> {
        match record(&self.db, row, worker, attempt, millis(self.now())).await {
            Err(SyncError::LeaseLost) => {
                tracing::warn!("lease lost before recording; another worker will recover");
                Ok(())
            }
            other => other,
        }
    }

    /// One daemon step: queue new changes, then publish one due invoice.
    pub async fn try_process_next(&self) -> Result<Outcome, SyncError> {
        let queued = self.feed().await?;
        let published = self.publish_next(&self.options.worker_id).await?;
        Ok(if queued > 0 || published == Outcome::Worked {
            Outcome::Worked
        } else {
            Outcome::Idle
        })
    }

    /// Step until nothing is due (for tests and `billing bench sync`).
    pub async fn run_until_idle(&self) -> Result<(), SyncError> {
        while self.try_process_next().await? == Outcome::Worked {}
        Ok(())
    }
}
