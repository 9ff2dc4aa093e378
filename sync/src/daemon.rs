//! The long-running sync (`billing sync`): one feeder task (projector
//! catch-up, period closer, change feed → queue) and `workers` publishing
//! tasks sharing one token bucket, until the shutdown token fires.
//!
//! On shutdown, in-flight publishes get [`SHUTDOWN_GRACE`] to finish; any
//! still running are abandoned: their leases are released and their rows
//! stay `in_flight`, so the next claim recovers from Stripe. Nothing is
//! lost — the cursor and every recorded publish are already committed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ledger::db::Database;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::options::SyncOptions;
use crate::projector::{Outcome, SyncProjector};
use crate::state::queue;
use crate::stripe::{StripeClient, StripeConfig, StripeSetup};

/// How long in-flight publishes may run on after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Connect, check the Stripe configuration and run until `shutdown`. With
/// no `STRIPE_API_KEY` the sync is off: it says so and returns.
pub async fn run_daemon(
    url: &str,
    options: SyncOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = match StripeConfig::from_env().context("reading the Stripe configuration")? {
        StripeSetup::Enabled(config) => config,
        StripeSetup::Disabled { reason } => {
            println!("{reason}");
            tracing::warn!(%reason, "sync disabled");
            return Ok(());
        }
    };
    let db = Database::connect_and_migrate(url)
        .await
        .context("opening the database")?;
    let api = Arc::new(StripeClient::new(&config).context("building the Stripe client")?);
    tracing::info!(worker_id = %options.worker_id, workers = options.workers,
        rate_limit = options.rate_limit, "sync daemon starting");
    run(Arc::new(SyncProjector::new(db, api, options)), shutdown).await;
    Ok(())
}

/// Run the feeder and the workers until `shutdown`.
pub async fn run(projector: Arc<SyncProjector>, shutdown: CancellationToken) {
    let mut tasks = JoinSet::new();
    tasks.spawn(feeder(projector.clone(), shutdown.clone()));
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
                tracing::error!(error = %e, worker = %name, "sync step failed");
                pause(poll * failures.min(30), &shutdown).await;
            }
        }
    }
}

async fn feeder(projector: Arc<SyncProjector>, shutdown: CancellationToken) {
    let options = projector.options().clone();
    let db = projector.database().clone();
    let runner = projections::projector_for(&db);
    let mut last_close: Option<tokio::time::Instant> = None;
    while !shutdown.is_cancelled() {
        if let Err(e) = feed_once(&projector, &runner, &options, &mut last_close).await {
            tracing::error!(error = format!("{e:#}"), "sync feed failed");
        }
        pause(options.poll, &shutdown).await;
    }
}

async fn feed_once(
    projector: &SyncProjector,
    runner: &projections::InvoiceProjector,
    options: &SyncOptions,
    last_close: &mut Option<tokio::time::Instant>,
) -> anyhow::Result<()> {
    if options.run_projector {
        runner.catch_up().await.context("folding new events")?;
    }
    let due = !options.close_interval.is_zero()
        && last_close.is_none_or(|t| t.elapsed() >= options.close_interval);
    if due && options.run_projector {
        let grace = chrono::Duration::from_std(options.close_grace).unwrap_or_default();
        let store = projector.database().event_store();
        let report = projections::closer::close_periods(
            store.as_ref(),
            runner.tables().as_ref(),
            projector.now(),
            grace,
        )
        .await
        .context("closing ended periods")?;
        if !report.finalized.is_empty() {
            tracing::info!(finalized = report.finalized.len(), "closed ended periods");
            runner
                .catch_up()
                .await
                .context("folding finalized invoices")?;
        }
        *last_close = Some(tokio::time::Instant::now());
    }
    let queued = projector
        .feed()
        .await
        .context("reading the invoice change feed")?;
    if queued > 0 {
        tracing::debug!(queued, "queued changed invoices");
    }
    Ok(())
}
