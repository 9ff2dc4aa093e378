//! `billing bench sync`: Stripe calls per invoice when publishing snapshots,
//! against what syncing every usage event would have made. Runs against
//! `STRIPE_API_BASE` if set (with `STRIPE_API_KEY`), else an in-process fake.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sync::stripe::{StripeApi, StripeClient, StripeConfig, StripeSetup};

use super::{BenchBackend, Scratch};

#[derive(Debug, clap::Args)]
pub struct SyncBenchArgs {
    /// Invoices (organizations) to publish.
    #[arg(long, default_value_t = 100)]
    pub invoices: usize,
    /// Usage events behind each invoice.
    #[arg(long, default_value_t = 1_000)]
    pub events_per_invoice: usize,
    /// Stripe requests per second (the fake takes anything; real Stripe test mode ~25).
    #[arg(long, default_value_t = 500.0)]
    pub rate_limit: f64,
    #[arg(long, value_enum, default_value_t = BenchBackend::Sqlite)]
    pub backend: BenchBackend,
    /// PostgreSQL server for `--backend postgres` (scratch database).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub postgres_url: Option<String>,
}

pub async fn run(args: SyncBenchArgs) -> anyhow::Result<()> {
    let scratch = Scratch::create(args.backend, args.postgres_url.as_deref()).await?;
    let mut fake = None;
    let api: Arc<dyn StripeApi> = if std::env::var("STRIPE_API_BASE").is_ok() {
        match StripeConfig::from_env()? {
            StripeSetup::Enabled(config) => Arc::new(StripeClient::new(&config)?),
            StripeSetup::Disabled { reason } => {
                anyhow::bail!("STRIPE_API_BASE is set but {reason}")
            }
        }
    } else {
        let bind: SocketAddr = ([127, 0, 0, 1], 0).into();
        let handle = stripe_fake::spawn(bind, stripe_fake::FakeConfig::default())
            .await
            .context("starting the in-process Stripe fake")?;
        let config = sync::bench::fake_stripe_config(&handle.base_url());
        fake = Some(handle);
        Arc::new(StripeClient::new(&config)?)
    };
    let options = sync::SyncOptions {
        rate_limit: args.rate_limit,
        draft_cadence: std::time::Duration::ZERO,
        ..sync::SyncOptions::default()
    };
    let report = sync::bench::run_bench(
        scratch.db.clone(),
        api,
        args.invoices,
        args.events_per_invoice,
        options,
    )
    .await?;
    println!(
        "published {} invoices ({} usage events) with {} Stripe calls in {:.1}s",
        report.invoices, report.usage_events, report.stripe_calls, report.seconds
    );
    println!(
        "calls per invoice: {:.2}; per usage event: {:.5}; per-usage-event syncing would have made {} calls ({:.0}x)",
        report.calls_per_invoice,
        report.calls_per_usage_event,
        report.naive_calls,
        report.naive_calls as f64 / report.stripe_calls.max(1) as f64
    );
    if let Some(fake) = fake {
        fake.shutdown().await;
    }
    scratch.remove().await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
