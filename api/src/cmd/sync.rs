//! `billing sync`: the pipeline without the API — the Stripe sync with the
//! projection runner and the period closer beside it (`--no-projections`
//! and `--no-closer` leave those to a `billing serve` elsewhere) — until
//! SIGINT or SIGTERM. Every setting is a flag and a `SYNC_*`/`BILLING_*`
//! variable (see docs/sync.md).

use crate::pipeline::{Pipeline, PipelineArgs};

/// Options of `billing sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Run until a signal; with no `STRIPE_API_KEY` it says the sync is off and exits 0.
pub async fn run(url: &str, mut args: SyncArgs) -> anyhow::Result<()> {
    let shutdown = crate::shutdown::on_signals()?;
    let api = match super::stripe_from_env()? {
        Ok(api) => api,
        Err(reason) => {
            println!("{reason}");
            tracing::warn!(%reason, "sync disabled");
            return Ok(());
        }
    };
    let db = super::open(url).await?;
    if !args.pipeline.no_webhooks {
        args.pipeline.webhook_keys =
            super::webhooks::prepare(url, &db, args.pipeline.webhook_secret_key.as_ref()).await?;
    }
    let options = &args.pipeline.sync;
    tracing::info!(worker_id = %options.worker_id, workers = options.workers,
        rate_limit = options.rate_limit, "sync daemon starting");
    Pipeline::new(&db, &args.pipeline, Some(api))
        .run(shutdown)
        .await;
    db.close().await;
    tracing::info!("sync daemon stopped");
    Ok(())
}
