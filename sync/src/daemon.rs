//! The long-running sync: one feeder task (invoice change feed → queue)
//! and `workers` publishing tasks sharing one token bucket, until the
//! shutdown token fires. Folding events and closing periods are not its
//! business: the pipeline that runs it (`billing serve`, `billing sync`)
//! runs the projection runner and the closer beside it.
//!
//! Beside them, unless `SYNC_EVENTS_INTERVAL_SECS` is 0, the payments
//! catch-up pages Stripe's events from its cursor (`payments::catchup`).
//!
//! On shutdown, in-flight publishes get [`SHUTDOWN_GRACE`] to finish; any
//! still running are abandoned: their leases are released and their rows
//! stay `in_flight`, so the next claim recovers from Stripe. Nothing is
//! lost — the cursor and every recorded publish are already committed.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::projector::{Outcome, SyncProjector};
use crate::state::queue;

/// How long in-flight publishes may run on after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Run the feeder and the workers until `shutdown`.
pub async fn run(projector: Arc<SyncProjector>, shutdown: CancellationToken) {
    let mut tasks = JoinSet::new();
    tasks.spawn(feeder(projector.clone(), shutdown.clone()));
    let events_interval = projector.options().events_interval;
    if events_interval > Duration::ZERO {
        let catch_up =
            crate::payments::catchup::CatchUp::new(projector.database(), projector.api.clone());
        tasks.spawn(catch_up.run(events_interval, shutdown.clone()));
    }
    let workers: Vec<String> = (0..projector.options().workers)
        .map(|i| format!("{}-{i}", projector.options().worker_id))
        .collect();
    for name in &workers {
        tasks.spawn(worker(projector.clone(), name.clone(), shutdown.clone()));
    }
    shutdown.cancelled().await;
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("abandoning in-flight publishes after the shutdown grace");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    for name in &workers {
        if let Err(e) = queue::release_all(projector.database(), name).await {
            tracing::warn!(error = %e, worker = %name, "could not release leases");
        }
    }
    tracing::info!("sync daemon stopped");
}

async fn pause(d: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

async fn worker(projector: Arc<SyncProjector>, name: String, shutdown: CancellationToken) {
    let poll = projector.options().poll;
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        match projector.publish_next(&name).await {
            Ok(Outcome::Worked) => failures = 0,
            Ok(Outcome::Idle) => pause(poll, &shutdown).await,
            Err(e) => {
                failures += 1;
                tracing::error!(error = format!("{e:#}"), worker = %name, "sync step failed");
                pause(poll * failures.min(30), &shutdown).await;
            }
        }
    }
}

async fn feeder(projector: Arc<SyncProjector>, shutdown: CancellationToken) {
    let poll = projector.options().poll;
    while !shutdown.is_cancelled() {
        match projector.feed().await {
            Ok(queued) if queued > 0 => tracing::debug!(queued, "queued changed invoices"),
            Ok(_) => {}
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "reading the invoice change feed failed"
            ),
        }
        pause(poll, &shutdown).await;
    }
}
