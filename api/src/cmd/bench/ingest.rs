//! `billing bench ingest`: `POST /v1/usage` over loopback HTTP against the
//! direct `EventStore` append of equivalent batches, on the same database,
//! round by round (C batches each way per round, after one untimed round
//! each way), so noise hits both.

use std::time::{Duration, Instant};

use anyhow::bail;
use futures::future::try_join_all;
use ledger::StreamAppend;
use serde_json::{json, Value};

use super::workload::{bench_start, usage_batches};
use super::{progress, rate, BenchBackend, BenchServer, Scratch};
use crate::tokens::{self, Role};

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    #[arg(long, value_enum, default_value_t = BenchBackend::Sqlite)]
    pub backend: BenchBackend,
    /// Usage events sent each way.
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Records per request (and per direct append).
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Concurrent clients (and concurrent direct appenders).
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    #[arg(long, default_value_t = 1_000)]
    pub orgs: usize,
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub postgres_url: Option<String>,
}

async fn seed(scratch: &Scratch, orgs: usize) -> anyhow::Result<()> {
    let start = bench_start();
    let setup = super::workload::setup(
        orgs,
        start,
        &json!({"model": {"type": "per_unit", "unit_price": "0.000002"}}),
    )?;
    scratch.db.event_store().append_batch(setup).await?;
    Ok(())
}

/// POST one batch (its JSON body, serialised) to `url`; the records
/// accepted, or an error if the server refused any.
pub(super) async fn post_usage(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> anyhow::Result<u64> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let reply = response.bytes().await?;
    // Only the counts: the client runs on the server's CPUs here, and a
    // real one, on a machine of its own, need not build the whole reply.
    #[derive(serde::Deserialize)]
    struct Counts {
        accepted: u64,
        rejected: u64,
    }
    match serde_json::from_slice::<Counts>(&reply) {
        Ok(counts) if status.is_success() && counts.rejected == 0 => Ok(counts.accepted),
        _ => bail!(
            "ingest failed with {status}: {}",
            String::from_utf8_lossy(&reply)
        ),
    }
}

/// The JSON body a client would send for a batch, serialised before the
/// clock starts: a real client builds it on a machine of its own, and the
/// direct appends it is compared with are built beforehand too.
pub(super) fn body(batch: &[StreamAppend]) -> anyhow::Result<Vec<u8>> {
    let records: Vec<Value> = batch
        .iter()
        .flat_map(|a| &a.events)
        .map(|e| {
            let payload = e.payload.to_value()?;
            Ok(json!({
                "org_id": e.org_id,
                "meter": payload["meter"],
                "quantity": payload["quantity"],
                "occurred_at": e.occurred_at,
                "idempotency_key": e.idempotency_key,
                "source": payload["source"],
                "attributes": payload["attributes"],
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(serde_json::to_vec(&json!({ "records": records }))?)
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    if args.events == 0 || args.clients == 0 || args.orgs == 0 || !(1..=5_000).contains(&args.batch)
    {
        bail!("--events, --clients and --orgs must be positive and --batch between 1 and 5000");
    }
    let scratch = Scratch::create(args.backend, args.postgres_url.as_deref()).await?;
    let result = measure(&scratch, &args).await;
    let cleanup = scratch.remove().await;
    result?;
    cleanup
}

async fn measure(scratch: &Scratch, args: &IngestArgs) -> anyhow::Result<()> {
    seed(scratch, args.orgs).await?;
    let (token, _) = tokens::create(&scratch.db, "bench", Role::Ingest, None).await?;
    let server = BenchServer::start(scratch).await?;
    let url = format!("{}/v1/usage", server.base);

    // Two independent workloads: the same shape, different keys and ids.
    let http_batches = usage_batches(args.events, args.batch, args.orgs, 11, bench_start())?;
    let direct_batches = usage_batches(args.events, args.batch, args.orgs, 12, bench_start())?;
    let bodies = http_batches
        .iter()
        .map(|b| body(b))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = reqwest::Client::new();
    let store = scratch.db.event_store();

    // One untimed round each way first: a server sees each organization's
    // registration once (a read per organization, then remembered), and
    // the figure is its steady state, not its first minute.
    let warm_up = args.clients * args.batch;
    let warm_http = usage_batches(warm_up, args.batch, args.orgs, 13, bench_start())?;
    let warm_direct = usage_batches(warm_up, args.batch, args.orgs, 14, bench_start())?;
    let warm_bodies = warm_http
        .iter()
        .map(|b| body(b))
        .collect::<anyhow::Result<Vec<_>>>()?;
    try_join_all(
        warm_bodies
            .into_iter()
            .map(|body| post_usage(&client, &url, &token, body)),
    )
    .await?;
    try_join_all(warm_direct.into_iter().map(|b| store.append_batch(b))).await?;

    let bar = progress(2 * args.events as u64, "ingesting");
    let (mut over_http, mut direct) = (Duration::ZERO, Duration::ZERO);
    let mut direct_iter = direct_batches.into_iter();
    let mut bodies = bodies.into_iter();
    loop {
        let round: Vec<Vec<u8>> = bodies.by_ref().take(args.clients).collect();
        if round.is_empty() {
            break;
        }
        let size = round.len();
        let started = Instant::now();
        let sent = try_join_all(
            round
                .into_iter()
                .map(|body| post_usage(&client, &url, &token, body)),
        )
        .await?;
        over_http += started.elapsed();
        let batches: Vec<_> = direct_iter.by_ref().take(size).collect();
        let started = Instant::now();
        try_join_all(batches.into_iter().map(|b| store.append_batch(b))).await?;
        direct += started.elapsed();
        bar.inc(2 * sent.iter().sum::<u64>());
    }
    bar.finish_and_clear();
    server.stop().await?;

    let events_per_s = rate(args.events, over_http);
    let baseline_per_s = rate(args.events, direct);
    let ratio = events_per_s / baseline_per_s;
    println!(
        "ingest benchmark: {} ({}), {} events each way, batches of {}, {} clients",
        args.backend.name(),
        scratch.name(),
        args.events,
        args.batch,
        args.clients
    );
    println!("{:<34} {:>12} {:>10}", "path", "events/s", "seconds");
    println!(
        "{:<34} {:>12.0} {:>10.2}",
        "POST /v1/usage (HTTP + JSON)",
        events_per_s,
        over_http.as_secs_f64()
    );
    println!(
        "{:<34} {:>12.0} {:>10.2}",
        "EventStore::append_batch (baseline)",
        baseline_per_s,
        direct.as_secs_f64()
    );
    println!("{:<34} {:>12.2}", "ratio", ratio);
    println!(
        "{}",
        json!({
            "bench": "ingest",
            "backend": args.backend.name(),
            "events": args.events,
            "events_per_s": events_per_s.round(),
            "baseline_per_s": baseline_per_s.round(),
            "ratio": (ratio * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}
