//! `billing serve`: the API and the pipeline (invoice projection runner,
//! period closer, Stripe sync) in one process, until SIGINT/SIGTERM. With
//! `--read-only` it is an API replica: reads only, no migrations, no
//! pipeline.

use std::net::SocketAddr;

use anyhow::Context;

use crate::http::{ApiConfig, Application};
use crate::pipeline::{Pipeline, PipelineArgs};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTP API.
    #[arg(long, env = "BILLING_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Don't serve the HTTP API.
    #[arg(long)]
    pub no_api: bool,
    /// Most usage records per `POST /v1/usage`.
    #[arg(long, env = "BILLING_MAX_BATCH", default_value_t = 5_000)]
    pub max_batch: usize,
    /// Serve reads only (an API replica on a PostgreSQL read replica): no
    /// migrations (the schema must be at this build's version), no runner,
    /// closer or sync; writes answer 503 `read_only`.
    #[arg(long, env = "BILLING_READ_ONLY", value_parser = clap::builder::FalseyValueParser::new())]
    pub read_only: bool,
    /// Mark the console's cookies `Secure` (when it is served over HTTPS,
    /// e.g. behind a TLS-terminating proxy).
    #[arg(long, env = "BILLING_CONSOLE_SECURE_COOKIE", value_parser = clap::builder::FalseyValueParser::new())]
    pub console_secure_cookie: bool,
    /// How long a console sign-in lasts, in hours.
    #[arg(long, env = "BILLING_CONSOLE_SESSION_HOURS", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub console_session_hours: u64,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub async fn run(url: &str, mut args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = crate::shutdown::on_signals()?;
    let db = if args.read_only {
        let db = ledger::db::Database::connect_read_only(url)
            .await
            .with_context(|| format!("opening the database at {} read-only", super::redact(url)))?;
        db.check_schema()
            .await
            .context("checking the replica's schema")?;
        db
    } else {
        super::open(url).await?
    };
    tracing::info!(backend = db.backend().name(), database = %super::redact(url),
        read_only = args.read_only, "database ready");
    let mut tasks = tokio::task::JoinSet::new();
    let mut breaker = None;
    // Every writing process that registers endpoints (the API) or signs
    // (the dispatcher) needs the key.
    let signs = !args.no_api || !args.pipeline.no_webhooks;
    if !args.read_only && signs {
        args.pipeline.webhook_keys =
            super::webhooks::prepare(url, &db, args.pipeline.webhook_secret_key.as_ref()).await?;
    }
    if !args.read_only {
        let stripe = match super::stripe_from_env()? {
            Ok(api) => Some(api),
            Err(reason) => {
                if !args.pipeline.no_sync {
                    tracing::warn!(%reason, "Stripe sync is off; invoices are still computed and served");
                }
                None
            }
        };
        let pipeline = Pipeline::new(&db, &args.pipeline, stripe);
        breaker = pipeline.stripe_breaker();
        if !pipeline.is_empty() {
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                pipeline.run(shutdown).await;
                Ok(())
            });
        }
    }
    if !args.no_api {
        let config = ApiConfig {
            bind: args.bind,
            max_batch: args.max_batch,
            webhook_hosts: args.pipeline.webhook_hosts(),
            webhook_keys: args.pipeline.webhook_keys.clone(),
            console_secure_cookie: args.console_secure_cookie,
            console_session_ttl: std::time::Duration::from_secs(args.console_session_hours * 3600),
            stripe_webhook: sync::payments::signature::Verifier::from_env()
                .map_err(anyhow::Error::msg)?,
            ..ApiConfig::default()
        };
        let app = Application::build_with(db.clone(), config, breaker).await?;
        tracing::info!(bind = %args.bind, port = app.port(), "HTTP API listening");
        let shutdown = shutdown.clone();
        tasks.spawn(async move { app.run(shutdown).await });
    }
    if tasks.is_empty() {
        anyhow::bail!("everything is switched off: nothing to serve");
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(err) = done? {
            tracing::error!(
                error = format!("{err:#}"),
                "a component failed; shutting down"
            );
            shutdown.cancel();
        }
    }
    db.close().await;
    tracing::info!("stopped; checkpoints are saved");
    Ok(())
}
