//! `billing bench sync`: Stripe calls per invoice when publishing snapshots,
//! against what syncing every usage event would have made. Runs against
//! `STRIPE_API_BASE` if set (with `STRIPE_API_KEY`), else an in-process fake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, DurationRound, Utc};
use ledger::db::Database;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use sync::stripe::{StripeApi, StripeClient, StripeConfig, StripeSetup};
use sync::{Outcome, SyncOptions, SyncProjector};

use super::workload::{setup, usage_batches};
use super::{BenchBackend, Scratch};
use crate::pipeline::{Pipeline, PipelineArgs};

#[derive(Debug, clap::Args)]
pub struct SyncBenchArgs {
    /// Invoices (organizations) to publish.
    #[arg(long, default_value_t = 100)]
    pub invoices: usize,
    /// Usage events behind each invoice (on average: the workload spreads
    /// them at random over the organizations and meters).
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
        let config = StripeConfig::new(handle.base_url(), SecretString::from("sk_test_bench"));
        fake = Some(handle);
        Arc::new(StripeClient::new(&config)?)
    };
    let options = SyncOptions {
        rate_limit: args.rate_limit,
        draft_cadence: std::time::Duration::ZERO,
        ..SyncOptions::default()
    };
    let report = run_bench(
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

/// What the bench measured; printed as the last line, as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub bench: &'static str,
    pub invoices: usize,
    pub usage_events: usize,
    pub stripe_calls: i64,
    pub calls_per_invoice: f64,
    pub calls_per_usage_event: f64,
    /// One item per usage event, plus customer, invoice and finalize per invoice.
    pub naive_calls: i64,
    pub seconds: f64,
}

/// Seed `invoices` organizations with `events_per_invoice` usage events (on
/// average) in a period that has ended, close it, and publish everything.
async fn run_bench(
    db: Database,
    api: Arc<dyn StripeApi>,
    invoices: usize,
    events_per_invoice: usize,
    options: SyncOptions,
) -> anyhow::Result<BenchReport> {
    let now = Utc::now();
    let anchor = (now - Duration::days(40)).duration_trunc(Duration::days(1))?;
    let store = db.event_store();
    let spec = json!({"model": {"type": "per_unit", "unit_price": "0.0000022"}});
    store.append_batch(setup(invoices, anchor, &spec)?).await?;
    let usage_events = invoices * events_per_invoice;
    for batch in usage_batches(usage_events, 5_000, invoices, 11, anchor)? {
        store.append_batch(batch).await?;
    }
    let close = PipelineArgs {
        close_grace_minutes: 0,
        ..PipelineArgs::default()
    };
    Pipeline::new(&db, &close, None)
        .with_batch_size(5_000)
        .run_until_idle(now)
        .await?;
    let started = Instant::now();
    let workers = options.workers.max(1);
    let projector = Arc::new(SyncProjector::new(db.clone(), api, options));
    projector.feed().await?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..workers {
        let p = projector.clone();
        tasks.spawn(async move {
            let name = format!("bench-{i}");
            while p.publish_next(&name).await? == Outcome::Worked {}
            Ok::<_, sync::SyncError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a bench worker panicked")??;
    }
    let (calls,): (i64,) = db
        .query_as("SELECT COALESCE(SUM(calls), 0) FROM stripe_publish")
        .fetch_one()
        .await?;
    Ok(BenchReport {
        bench: "sync",
        invoices,
        usage_events,
        stripe_calls: calls,
        calls_per_invoice: calls as f64 / invoices.max(1) as f64,
        calls_per_usage_event: calls as f64 / usage_events.max(1) as f64,
        naive_calls: (usage_events + 3 * invoices) as i64,
        seconds: started.elapsed().as_secs_f64(),
    })
}
