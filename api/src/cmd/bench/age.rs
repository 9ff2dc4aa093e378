//! `billing bench age`: does an organization's age cost anything?
//!
//! Two figures, each against a baseline measured in the same run:
//! - **fold by age**: the projection runner folding usage batches for an
//!   organization with `--closed` closed periods behind it, against the
//!   same batches for one with a single closed period, round by round;
//! - **reads while ingesting**: `GET …/invoices/current` latency (p50/p99)
//!   while `--clients` clients post usage batches and the runner folds
//!   them, against the duration of one runner step (a read can only be as
//!   fresh as the last step, so "one step plus 50 ms" is the bar).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Months, Utc};
use ledger::event::{OrganizationCreated, UsageRecorded};
use ledger::money::{Currency, Quantity};
use ledger::{EventStore, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamAppend, StreamId};
use projections::closer::close_periods;
use projections::tables::INVOICES;
use projections::{projector_for, tables_for};
use rust_decimal::Decimal;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::workload::{bench_start, setup, usage_batches, METERS};
use super::{concurrently, progress, BenchBackend, BenchServer, Scratch};
use crate::tokens::{self, Role};

#[derive(Debug, clap::Args)]
pub struct AgeArgs {
    #[arg(long, value_enum, default_value_t = BenchBackend::Sqlite)]
    pub backend: BenchBackend,
    /// Closed periods behind the old organization (the young one has 1).
    #[arg(long, default_value_t = 36)]
    pub closed: u32,
    /// Usage batches folded for each organization.
    #[arg(long, default_value_t = 100)]
    pub batches: usize,
    /// Usage events per batch.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Concurrent ingesting clients during the read-latency measurement.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Usage events the clients post (batches of 1,000) during it.
    #[arg(long, default_value_t = 80_000)]
    pub ingest_events: usize,
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub postgres_url: Option<String>,
}

pub async fn run(args: AgeArgs) -> anyhow::Result<()> {
    if !(1..=120).contains(&args.closed)
        || args.batches == 0
        || !(1..=5_000).contains(&args.batch)
        || !(1..=64).contains(&args.clients)
        || args.ingest_events == 0
    {
        bail!(
            "--closed must be 1 to 120, --batch 1 to 5000, --clients 1 to 64, \
             and --batches and --ingest-events positive"
        );
    }
    let scratch = Scratch::create(args.backend, args.postgres_url.as_deref()).await?;
    let result = measure(&scratch, &args).await;
    let cleanup = scratch.remove().await;
    result?;
    cleanup
}

fn org(name: &str) -> anyhow::Result<OrgId> {
    Ok(OrgId::new(name)?)
}

fn usage(org: &OrgId, meter: &str, units: i64, at: DateTime<Utc>) -> anyhow::Result<NewEvent> {
    let event = LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: meter.to_owned(),
        quantity: Quantity::try_from(Decimal::new(units, 0))?,
        window: None,
        source: "bench:age".into(),
        attributes: Default::default(),
    });
    Ok(NewEvent::from_domain(&event, at)?.with_idempotency_key(uuid::Uuid::new_v4().to_string()))
}

/// An organization billed monthly from `closed` months before `now`, with
/// usage on every meter in each of those months.
async fn history(
    store: &dyn EventStore,
    org: &OrgId,
    closed: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let anchor = now
        .checked_sub_months(Months::new(closed))
        .context("anchor out of range")?;
    let created = LedgerEvent::OrganizationCreated(OrganizationCreated {
        org_id: org.clone(),
        name: org.to_string(),
        currency: Currency::USD,
        billing_anchor: anchor,
        stripe_customer_id: None,
    });
    store
        .append(
            &StreamId::organization(org),
            ExpectedVersion::NoStream,
            vec![NewEvent::from_domain(&created, anchor)?],
        )
        .await?;
    let mut events = Vec::new();
    for month in 0..closed {
        let start = anchor + Months::new(month);
        for day in 0..20 {
            for meter in METERS {
                let at = start + chrono::Duration::days(day) + chrono::Duration::hours(3);
                events.push(usage(org, meter, 1_000 + day, at)?);
            }
        }
    }
    for chunk in events.chunks(1_000) {
        store
            .append(&StreamId::usage(org), ExpectedVersion::Any, chunk.to_vec())
            .await?;
    }
    Ok(())
}

/// The stored size of an organization's fold state, in bytes.
async fn state_bytes(scratch: &Scratch, org: &OrgId) -> anyhow::Result<usize> {
    let tables = tables_for(&scratch.db);
    let generation = tables.active_generation(INVOICES).await?;
    let key = projections::runner::org_key(org.as_str());
    let states = tables.load_states(generation, &[key]).await?;
    Ok(states.first().map_or(0, |(_, state)| state.get().len()))
}

struct Figures {
    old_bytes: usize,
    young_bytes: usize,
    old: Duration,
    young: Duration,
}

async fn fold_by_age(scratch: &Scratch, args: &AgeArgs) -> anyhow::Result<Figures> {
    let store = scratch.db.event_store();
    let now = bench_start();
    let catalog = setup(
        0,
        now - chrono::Duration::days(31 * i64::from(args.closed) + 400),
        &json!({"model": {"type": "graduated", "tiers": [
            {"up_to": "100000", "unit_price": "0.000004"},
            {"up_to": null, "unit_price": "0.000002"}
        ]}, "free_allowance": "100"}),
    )?;
    store.append_batch(catalog).await?;
    let (old, young) = (org("org-old")?, org("org-young")?);
    history(store.as_ref(), &old, args.closed, now).await?;
    history(store.as_ref(), &young, 1, now).await?;
    let projector = projector_for(&scratch.db);
    let tables = tables_for(&scratch.db);
    projector.catch_up().await?;
    close_periods(
        store.as_ref(),
        tables.as_ref(),
        now,
        chrono::Duration::zero(),
    )
    .await?;
    projector.catch_up().await?;

    let bar = progress(2 * args.batches as u64, "folding by age");
    let (mut old_took, mut young_took) = (Duration::ZERO, Duration::ZERO);
    for round in 0..args.batches {
        // Alternate which goes first, so neither always runs on a warm cache.
        let order = if round % 2 == 0 {
            [(&old, true), (&young, false)]
        } else {
            [(&young, false), (&old, true)]
        };
        for (org, is_old) in order {
            let events = (0..args.batch)
                .map(|i| {
                    let meter = METERS[i % METERS.len()];
                    let at = now + chrono::Duration::minutes((round * args.batch + i) as i64);
                    usage(org, meter, 1 + i as i64, at)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            store
                .append(&StreamId::usage(org), ExpectedVersion::Any, events)
                .await?;
            let started = Instant::now();
            projector.catch_up().await?;
            *if is_old {
                &mut old_took
            } else {
                &mut young_took
            } += started.elapsed();
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(Figures {
        old_bytes: state_bytes(scratch, &old).await?,
        young_bytes: state_bytes(scratch, &young).await?,
        old: old_took,
        young: young_took,
    })
}

/// The `q` quantile of sorted durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

struct Reads {
    p50: Duration,
    p99: Duration,
    reads: usize,
    step_p50: Duration,
    step_p99: Duration,
    steps: usize,
}

async fn reads_while_ingesting(scratch: &Scratch, args: &AgeArgs) -> anyhow::Result<Reads> {
    const ORGS: usize = 1_000;
    let now = bench_start();
    // Organizations billed from `now`, so their current invoice is the
    // one the usage lands on.
    let setup = setup(
        ORGS,
        now,
        &json!({"model": {"type": "per_unit", "unit_price": "0.000002"}}),
    )?;
    // The catalog is already there; only the organizations are new.
    let orgs: Vec<StreamAppend> = setup.into_iter().skip(1).collect();
    scratch.db.event_store().append_batch(orgs).await?;
    let (ingest, _) = tokens::create(&scratch.db, "bench-ingest", Role::Ingest, None).await?;
    let (support, _) = tokens::create(&scratch.db, "bench-support", Role::Support, None).await?;
    let server = BenchServer::start(scratch).await?;
    let base = server.base.clone();

    // The runner, stepping as `billing serve` does, each step timed.
    let projector = projector_for(&scratch.db);
    let ingesting = CancellationToken::new();
    let runner = {
        let ingesting = ingesting.clone();
        tokio::spawn(async move {
            let mut steps = Vec::new();
            loop {
                let started = Instant::now();
                match projector.try_process_next().await? {
                    projections::Outcome::Worked { events, .. } if events > 0 => {
                        steps.push(started.elapsed());
                    }
                    _ if ingesting.is_cancelled() => return Ok::<_, anyhow::Error>(steps),
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
    };
    let reader = {
        let (base, support, ingesting) = (base.clone(), support.clone(), ingesting.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while !ingesting.is_cancelled() {
                let org = super::workload::org_id(n % ORGS);
                n += 1;
                let started = Instant::now();
                let response = client
                    .get(format!("{base}/v1/organizations/{org}/invoices/current"))
                    .bearer_auth(&support)
                    .send()
                    .await?;
                let status = response.status();
                response.bytes().await?;
                // 404 until the org's first usage is folded: still a read.
                if !status.is_success() && status != reqwest::StatusCode::NOT_FOUND {
                    bail!("GET invoices/current failed with {status}");
                }
                latencies.push(started.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    };

    let batches = usage_batches(args.ingest_events, 1_000, ORGS, 21, now)?;
    let bodies = batches
        .iter()
        .map(|b| super::ingest::body(b))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = reqwest::Client::new();
    let bar = progress(args.ingest_events as u64, "ingesting while reading");
    let url = format!("{base}/v1/usage");
    concurrently(args.clients, bodies, {
        let bar = bar.clone();
        move |body| {
            let (client, url, token, bar) =
                (client.clone(), url.clone(), ingest.clone(), bar.clone());
            async move {
                bar.inc(super::ingest::post_usage(&client, &url, &token, body).await?);
                Ok(())
            }
        }
    })
    .await?;
    bar.finish_and_clear();
    ingesting.cancel();
    let mut latencies = reader.await.context("reader")??;
    let mut steps = runner.await.context("runner")??;
    server.stop().await?;
    latencies.sort_unstable();
    steps.sort_unstable();
    Ok(Reads {
        p50: quantile(&latencies, 0.5),
        p99: quantile(&latencies, 0.99),
        reads: latencies.len(),
        step_p50: quantile(&steps, 0.5),
        step_p99: quantile(&steps, 0.99),
        steps: steps.len(),
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

async fn measure(scratch: &Scratch, args: &AgeArgs) -> anyhow::Result<()> {
    let age = fold_by_age(scratch, args).await?;
    let reads = reads_while_ingesting(scratch, args).await?;
    let events = (args.batches * args.batch) as f64;
    let old_rate = events / age.old.as_secs_f64().max(1e-9);
    let young_rate = events / age.young.as_secs_f64().max(1e-9);
    let ratio = old_rate / young_rate;
    let bar = reads.step_p50 + Duration::from_millis(50);
    println!(
        "age benchmark: {} ({}), {} batches of {} usage events per organization",
        args.backend.name(),
        scratch.name(),
        args.batches,
        args.batch
    );
    println!(
        "{:<44} {:>12} {:>10} {:>12}",
        "fold (runner step)", "events/s", "seconds", "state bytes"
    );
    println!(
        "{:<44} {:>12.0} {:>10.2} {:>12}",
        format!("organization with {} closed periods", args.closed),
        old_rate,
        age.old.as_secs_f64(),
        age.old_bytes
    );
    println!(
        "{:<44} {:>12.0} {:>10.2} {:>12}",
        "organization with 1 closed period (baseline)",
        young_rate,
        age.young.as_secs_f64(),
        age.young_bytes
    );
    println!("{:<44} {:>12.2}", "ratio", ratio);
    println!(
        "GET …/invoices/current while {} clients ingest {} events: {} reads, p50 {} ms, p99 {} ms; \
         runner step ({} steps) p50 {} ms, p99 {} ms; p99 {} one step + 50 ms ({} ms)",
        args.clients,
        args.ingest_events,
        reads.reads,
        ms(reads.p50),
        ms(reads.p99),
        reads.steps,
        ms(reads.step_p50),
        ms(reads.step_p99),
        if reads.p99 <= bar { "within" } else { "beyond" },
        ms(bar)
    );
    println!(
        "{}",
        json!({
            "bench": "age",
            "backend": args.backend.name(),
            "closed_periods": args.closed,
            "events_per_s": old_rate.round(),
            "baseline_per_s": young_rate.round(),
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "state_bytes": age.old_bytes,
            "baseline_state_bytes": age.young_bytes,
            "read_p50_ms": ms(reads.p50),
            "read_p99_ms": ms(reads.p99),
            "step_p50_ms": ms(reads.step_p50),
            "step_p99_ms": ms(reads.step_p99),
        })
    );
    Ok(())
}
