//! `billing serve`: the API, the invoice projection runner, the period
//! closer and the Stripe sync in one process, until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use projections::closer::{close_periods, DEFAULT_GRACE};
use tokio_util::sync::CancellationToken;

use crate::http::{ApiConfig, Application};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTP API.
    #[arg(long, env = "BILLING_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Don't serve the HTTP API.
    #[arg(long)]
    pub no_api: bool,
    /// Don't run the invoice projection runner.
    #[arg(long)]
    pub no_projections: bool,
    /// Don't run the period closer.
    #[arg(long)]
    pub no_closer: bool,
    /// Don't run the Stripe sync (it is also off without STRIPE_API_KEY).
    #[arg(long)]
    pub no_sync: bool,
    /// Most usage records per `POST /v1/usage`.
    #[arg(long, env = "BILLING_MAX_BATCH", default_value_t = 5_000)]
    pub max_batch: usize,
    /// Idle poll interval of the projection runner, in milliseconds.
    #[arg(long, env = "BILLING_PROJECTION_POLL_MS", default_value_t = 100)]
    pub projection_poll_ms: u64,
    /// How often the closer looks for ended periods, in seconds.
    #[arg(long, env = "BILLING_CLOSE_INTERVAL_SECS", default_value_t = 60)]
    pub close_interval_secs: u64,
    /// Minutes after a period's end before it is finalized.
    #[arg(long, env = "BILLING_CLOSE_GRACE_MINUTES", default_value_t = DEFAULT_GRACE.num_minutes())]
    pub grace_minutes: i64,
}

/// Cancel `token` on SIGINT or SIGTERM. The handlers are registered before
/// this returns, so a signal arriving during start-up stops the process
/// cleanly instead of killing it with the default action.
pub fn cancel_on_signals(token: CancellationToken) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutdown requested: finishing in-flight work");
            token.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested: finishing in-flight work");
        token.cancel();
    });
    Ok(())
}

pub async fn run(url: &str, args: ServeArgs) -> anyhow::Result<()> {
    let db = super::open(url).await?;
    tracing::info!(backend = db.backend().name(), database = %super::redact(url), "database ready");
    let shutdown = CancellationToken::new();
    cancel_on_signals(shutdown.clone())?;
    let mut tasks = tokio::task::JoinSet::new();
    if !args.no_projections {
        let projector = projections::projector_for(&db);
        let poll = Duration::from_millis(args.projection_poll_ms.max(1));
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            projector.run(poll, shutdown).await;
            Ok(())
        });
        tracing::info!("invoice projection runner started");
    }
    if !args.no_closer {
        let (store, tables) = (db.event_store(), projections::tables_for(&db));
        let shutdown = shutdown.clone();
        let every = Duration::from_secs(args.close_interval_secs.max(1));
        let grace = chrono::Duration::minutes(args.grace_minutes.max(0));
        tasks.spawn(async move {
            while !shutdown.is_cancelled() {
                match close_periods(store.as_ref(), tables.as_ref(), Utc::now(), grace).await {
                    Ok(report) if !report.finalized.is_empty() => {
                        tracing::info!(finalized = report.finalized.len(), "periods closed")
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(error = %err, "period closer failed; retrying next round")
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = shutdown.cancelled() => {}
                }
            }
            Ok(())
        });
        tracing::info!(grace_minutes = args.grace_minutes, "period closer started");
    }
    if !args.no_sync {
        match sync::stripe::StripeConfig::from_env()? {
            sync::stripe::StripeSetup::Enabled(config) => {
                let mut options = sync::SyncOptions::from_env()?;
                // serve runs the projector and the closer itself.
                options.run_projector = args.no_projections;
                options.close_interval = Duration::ZERO;
                let api = std::sync::Arc::new(sync::stripe::StripeClient::new(&config)?);
                let projector =
                    std::sync::Arc::new(sync::SyncProjector::new(db.clone(), api, options));
                let shutdown = shutdown.clone();
                tasks.spawn(async move {
                    sync::daemon::run(projector, shutdown).await;
                    Ok(())
                });
                tracing::info!(api_base = %config.api_base, "Stripe sync started");
            }
            sync::stripe::StripeSetup::Disabled { reason } => {
                tracing::warn!(%reason, "Stripe sync is off; invoices are still computed and served");
            }
        }
    }
    if !args.no_api {
        let config = ApiConfig {
            bind: args.bind,
            max_batch: args.max_batch,
            ..ApiConfig::default()
        };
        let app = Application::build(db.clone(), config).await?;
        tracing::info!(bind = %args.bind, port = app.port(), "HTTP API listening");
        let shutdown = shutdown.clone();
        tasks.spawn(async move { app.run(shutdown).await });
    }
    if tasks.is_empty() {
        anyhow::bail!("everything is switched off: nothing to serve");
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(err) = done? {
            tracing::error!(error = %err, "a component failed; shutting down");
            shutdown.cancel();
        }
    }
    db.close().await;
    tracing::info!("stopped; checkpoints are saved");
    Ok(())
}
