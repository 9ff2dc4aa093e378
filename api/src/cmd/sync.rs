//! `billing sync`: the Stripe sync daemon alone, until Ctrl-C or SIGTERM.
//! Every setting is a `SYNC_*` variable (see docs/sync.md); flags override.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Options of `billing sync` (each also read from its environment variable).
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Stripe requests per second, all workers together.
    #[arg(long, env = "SYNC_RATE_LIMIT")]
    rate_limit: Option<f64>,
    /// Invoices published concurrently.
    #[arg(long, env = "SYNC_WORKERS")]
    workers: Option<usize>,
    /// At most one draft publish per invoice per this many seconds; 0 = final only.
    #[arg(long, env = "SYNC_DRAFT_CADENCE_SECS")]
    draft_cadence_secs: Option<u64>,
}

/// Run the daemon; with no `STRIPE_API_KEY` it says the sync is off and exits 0.
pub async fn run(url: &str, args: SyncArgs) -> anyhow::Result<()> {
    let mut options = sync::SyncOptions::from_env().context("reading SYNC_* settings")?;
    if let Some(rate) = args.rate_limit {
        anyhow::ensure!(rate > 0.0, "--rate-limit must be > 0");
        options.rate_limit = rate;
    }
    if let Some(workers) = args.workers {
        options.workers = workers.max(1);
    }
    if let Some(secs) = args.draft_cadence_secs {
        options.draft_cadence = std::time::Duration::from_secs(secs);
    }
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = shutdown_signal().await {
            tracing::error!(error = %e, "cannot listen for signals; stopping");
        }
        signal.cancel();
    });
    sync::daemon::run_daemon(url, options, shutdown).await
}

#[cfg(unix)]
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("listening for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn shutdown_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("listening for Ctrl-C")
}
