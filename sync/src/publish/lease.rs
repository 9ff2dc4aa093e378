//! The lease of a claimed invoice, kept alive while the publish runs.
//!
//! A renewal task extends the lease every quarter of its length for as long as the
//! publish lives — also while a slow Stripe call is in flight. Every write asks
//! [`LeaseGuard::before_write`] first: it refuses once the lease is lost (another worker
//! holds it) and renews first when less than half of it is left, so no write is sent
//! without at least half a lease ahead of it. No wait (the breaker's probe, a token, a
//! `Retry-After`, a retry's backoff) may last longer than the lease as last confirmed,
//! less a quarter: [`LeaseGuard::wait_budget`]. So even if every renewal failed, the
//! worker would still hold the invoice when a wait ends; a longer wait gives the
//! invoice back instead.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ledger::db::Database;
use tokio::task::JoinHandle;

use crate::error::SyncError;
use crate::pace::LeaseGuard;
use crate::projector::Clock;
use crate::state::{millis, queue, SyncRow};

struct Shared {
    db: Database,
    row: SyncRow,
    owner: String,
    length: Duration,
    clock: Clock,
    /// The lease's end (Unix ms) as last written by us.
    until_ms: AtomicI64,
    lost: AtomicBool,
    renewing: tokio::sync::Mutex<()>,
}

impl Shared {
    fn now_ms(&self) -> i64 {
        millis((self.clock)())
    }

    fn remaining(&self) -> Duration {
        let left = self.until_ms.load(Ordering::SeqCst) - self.now_ms();
        Duration::from_millis(u64::try_from(left).unwrap_or(0))
    }

    async fn renew(&self) -> Result<(), SyncError> {
        let _one_at_a_time = self.renewing.lock().await;
        if self.lost.load(Ordering::SeqCst) {
            return Err(SyncError::LeaseLost);
        }
        let until = self.now_ms() + i64::try_from(self.length.as_millis()).unwrap_or(i64::MAX);
        match queue::renew(&self.db, &self.row, &self.owner, until).await {
            Ok(()) => {
                self.until_ms.store(until, Ordering::SeqCst);
                Ok(())
            }
            Err(SyncError::LeaseLost) => {
                self.lost.store(true, Ordering::SeqCst);
                Err(SyncError::LeaseLost)
            }
            Err(e) => Err(e),
        }
    }
}

/// A held lease with its renewal task; dropping it stops the renewals.
pub(crate) struct Lease {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Lease {
    /// Start keeping the lease `row` was claimed with (until `row.lease_expires_at`).
    pub(crate) fn keep(
        db: &Database,
        row: &SyncRow,
        owner: &str,
        length: Duration,
        clock: Clock,
    ) -> Self {
        let shared = Arc::new(Shared {
            db: db.clone(),
            row: row.clone(),
            owner: owner.to_owned(),
            length,
            clock,
            until_ms: AtomicI64::new(row.lease_expires_at),
            lost: AtomicBool::new(false),
            renewing: tokio::sync::Mutex::new(()),
        });
        let renewer = Arc::clone(&shared);
        let every = (length / 4).max(Duration::from_millis(10));
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match renewer.renew().await {
                    Ok(()) => {}
                    Err(SyncError::LeaseLost) => {
                        tracing::warn!("lease lost to another worker; no more writes");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "could not renew the lease; retrying"),
                }
            }
        });
        Self { shared, task }
    }

    /// Whether another worker has taken the invoice.
    pub(crate) fn is_lost(&self) -> bool {
        self.shared.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait::async_trait]
impl LeaseGuard for Lease {
    fn wait_budget(&self) -> Duration {
        if self.is_lost() {
            return Duration::ZERO;
        }
        self.shared
            .remaining()
            .saturating_sub(self.shared.length / 4)
    }

    async fn before_write(&self) -> Result<(), SyncError> {
        if self.is_lost() {
            return Err(SyncError::LeaseLost);
        }
        if self.shared.remaining() < self.shared.length / 2 {
            self.shared.renew().await?;
        }
        Ok(())
    }
}
