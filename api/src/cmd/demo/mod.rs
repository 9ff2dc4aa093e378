//! `billing demo`: a realistic platform, a month of usage, projections,
//! period close, late usage, Stripe sync and reconciliation, a budget
//! crossed and its alert delivered to a webhook receiver — then a tour.

mod alerts;
mod payments;
mod report;
mod world;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use sync::stripe::{StripeApi, StripeClient, StripeConfig, StripeSetup};
use sync::SyncOptions;

use crate::pipeline::{Pipeline, PipelineArgs};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Organizations on the platform.
    #[arg(long, default_value_t = 50)]
    pub orgs: usize,
    /// Usage events over the month.
    #[arg(long, default_value_t = 200_000)]
    pub usage_events: usize,
    /// Seed of the generated usage.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keys encrypting webhook signing secrets (default: a key file beside
    /// the demo's SQLite file; required on PostgreSQL).
    #[arg(long, env = "WEBHOOK_SECRET_KEY", hide_env_values = true, value_parser = crate::cmd::webhooks::secret)]
    pub webhook_secret_key: Option<secrecy::SecretString>,
}

/// The previous calendar month, UTC: the period the demo bills and closes.
fn last_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let this = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let (y, m) = if now.month() == 1 {
        (now.year() - 1, 12)
    } else {
        (now.year(), now.month() - 1)
    };
    let prev = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(this);
    (prev, this)
}

pub async fn run(database_url: Option<String>, args: DemoArgs) -> anyhow::Result<()> {
    if args.orgs == 0 || args.orgs > 10_000 || args.usage_events == 0 {
        bail!("--orgs must be 1 to 10000 and --usage-events positive");
    }
    let started = Instant::now();
    let url = database_url.unwrap_or_else(|| {
        format!(
            "sqlite://billing-demo-{}.db",
            Utc::now().format("%Y%m%d-%H%M%S")
        )
    });
    let db = super::open(&url).await?;
    let keys = super::webhooks::prepare(&url, &db, args.webhook_secret_key.as_ref()).await?;
    let store = db.event_store();
    if store.head_position().await? > 0 {
        bail!("{} already holds events; the demo needs an empty database (unset DATABASE_URL to get a fresh file)", super::redact(&url));
    }
    let now = Utc::now();
    let (start, end) = last_month(now);
    println!(
        "billing demo on {} ({})",
        super::redact(&url),
        db.backend().name()
    );
    println!(
        "  billing period {} – {}, {} organizations, {} usage events\n",
        start.date_naive(),
        end.date_naive(),
        args.orgs,
        args.usage_events
    );

    store
        .append_batch(world::setup(args.orgs, start, end)?)
        .await?;
    let usage = world::usage(args.usage_events, args.orgs, start, end, args.seed, "usage")?;
    let resend: Vec<_> = usage
        .iter()
        .take(args.usage_events / 50)
        .cloned()
        .map(|mut e| {
            e.event_id = uuid::Uuid::now_v7();
            e
        })
        .collect();
    let bar = super::bench::progress((usage.len() + resend.len()) as u64, "ingesting usage");
    let (mut accepted, mut duplicates) = (0usize, 0usize);
    let mut chunks: Vec<Vec<_>> = Vec::new();
    let mut iter = usage.into_iter().peekable();
    while iter.peek().is_some() {
        chunks.push(iter.by_ref().take(5_000).collect());
    }
    chunks.push(resend);
    for chunk in chunks {
        let n = chunk.len();
        for outcome in store.append_batch(world::batch(chunk)).await? {
            let dup = outcome.results.iter().filter(|r| r.is_duplicate()).count();
            duplicates += dup;
            accepted += outcome.results.len() - dup;
        }
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    println!("ingested {accepted} usage events; {duplicates} re-sent duplicates were recognised and stored nothing");

    let grace = chrono::Duration::hours(1).min(now - end);
    let close = PipelineArgs {
        close_grace_minutes: grace.num_minutes(),
        ..PipelineArgs::default()
    };
    let pipeline = Pipeline::new(&db, &close, None).with_batch_size(5_000);
    let settled = pipeline.run_until_idle(now).await?;
    println!(
        "closed the period: {} invoices finalized, next period opened",
        settled.closed.finalized.len()
    );

    let late_orgs = (args.orgs / 5).max(1);
    let late = world::usage(
        300,
        late_orgs,
        end - chrono::Duration::days(2),
        end,
        args.seed + 1,
        "late",
    )?;
    store.append_batch(world::batch(late)).await?;
    pipeline.run_until_idle(now).await?;
    println!("300 late usage events for the closed month arrived afterwards: they land on the next invoices\n");

    let fake = sync_and_reconcile(&db, now).await?;
    if let Some(fake) = &fake {
        payments::collect(&db, fake, now).await?;
    }
    alerts::tour(&db, &keys, &world::org(0), now).await?;
    report::print(&db, start, end, &url).await?;
    println!("\ndemo finished in {:.1}s", started.elapsed().as_secs_f64());
    db.close().await;
    Ok(())
}

/// Sync and reconcile; the in-process fake, if the demo started one.
async fn sync_and_reconcile(
    db: &ledger::db::Database,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<stripe_fake::FakeHandle>> {
    let (api, label, _fake): (Arc<dyn StripeApi>, String, Option<stripe_fake::FakeHandle>) =
        match StripeConfig::from_env().context("reading the Stripe configuration")? {
            StripeSetup::Enabled(config) => {
                let label = format!("Stripe at {}", config.api_base);
                (Arc::new(StripeClient::new(&config)?), label, None)
            }
            StripeSetup::Disabled { .. } => {
                let fake =
                    stripe_fake::spawn("127.0.0.1:0".parse()?, stripe_fake::FakeConfig::default())
                        .await?;
                let config = match StripeConfig::from_lookup(|name| match name {
                    "STRIPE_API_KEY" => Some("sk_test_demo".to_owned()),
                    "STRIPE_API_BASE" => Some(fake.base_url()),
                    _ => None,
                })? {
                    StripeSetup::Enabled(config) => config,
                    StripeSetup::Disabled { reason } => bail!(reason),
                };
                let label = format!(
                    "the in-process Stripe fake at {} (no STRIPE_API_KEY set)",
                    fake.base_url()
                );
                (Arc::new(StripeClient::new(&config)?), label, Some(fake))
            }
        };
    let fake = _fake.is_some();
    let sync_only = PipelineArgs {
        no_projections: true,
        no_closer: true,
        sync: SyncOptions {
            // Our own fake has no rate limit to respect; real Stripe keeps the default.
            rate_limit: if fake {
                500.0
            } else {
                SyncOptions::default().rate_limit
            },
            draft_cadence: Duration::ZERO,
            ..SyncOptions::default()
        },
        ..PipelineArgs::default()
    };
    let started = Instant::now();
    Pipeline::new(db, &sync_only, Some(api.clone()))
        .run_until_idle(now)
        .await?;
    let summary = sync::status::summary(db).await?;
    println!(
        "synced to {label} in {:.1}s: {} invoices known, {} finalized ones still pending, {} parked",
        started.elapsed().as_secs_f64(),
        summary.invoices,
        summary.final_pending,
        summary.parked
    );
    let report = sync::reconcile::reconcile(db, api.as_ref()).await?;
    println!(
        "reconciliation: {} ledger invoices, {} in Stripe, {} differences",
        report.ledger_invoices,
        report.stripe_invoices,
        report.differences.len()
    );
    println!("  (closed invoices are published and finalized in Stripe; open ones follow as drafts on the sync's cadence, off in the demo)");
    if !report.differences.is_empty() {
        println!("{}", sync::reconcile::render_table(&report));
    }
    Ok(_fake)
}
