//! `billing bench sync`: how many Stripe calls the sync makes per invoice,
//! against what syncing every usage event would have made. Also the seed
//! the sync tests use: organizations with usage in an ended period.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use ledger::db::Database;
use ledger::event::{OrganizationCreated, PriceSet, UsageRecorded};
use ledger::money::{Currency, Quantity};
use ledger::pricing::PriceSpec;
use ledger::{EventStore, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use serde::Serialize;

use crate::error::SyncError;
use crate::options::SyncOptions;
use crate::projector::{Outcome, SyncProjector};
use crate::stripe::StripeApi;

/// The meters the seed bills, with per-unit prices.
pub const METERS: [(&str, &str); 2] = [("cpu_seconds", "0.0000022"), ("egress_gb", "0.09")];

fn event(e: &LedgerEvent, at: DateTime<Utc>) -> Result<NewEvent, SyncError> {
    Ok(NewEvent::from_domain(e, at)?)
}

/// A billing anchor whose first period has ended (40 days ago, midnight UTC).
pub fn past_anchor(now: DateTime<Utc>) -> DateTime<Utc> {
    (now - Duration::days(40))
        .duration_trunc(Duration::days(1))
        .unwrap_or(now - Duration::days(40))
}

/// Prices, then `orgs` organizations (`{prefix}-{n}`) anchored at `anchor`,
/// each with `events` usage events spread over its first day.
pub async fn seed(
    store: &dyn EventStore,
    prefix: &str,
    orgs: usize,
    events: usize,
    anchor: DateTime<Utc>,
) -> Result<(), SyncError> {
    let invalid = |e: ledger::event::InvalidId| SyncError::Config(e.to_string());
    if store.stream_version(&StreamId::catalog()).await? == 0 {
        let mut prices = Vec::new();
        for (meter, price) in METERS {
            let spec: PriceSpec = serde_json::from_value(
                serde_json::json!({"model": {"type": "per_unit", "unit_price": price}}),
            )?;
            let set = LedgerEvent::PriceSet(PriceSet {
                price_id: format!("price-{meter}"),
                meter: meter.into(),
                currency: Currency::USD,
                unit: "unit".into(),
                description: format!("{meter} usage"),
                spec,
                effective_from: anchor - Duration::days(365),
            });
            prices.push(event(&set, anchor)?);
        }
        store
            .append(&StreamId::catalog(), ExpectedVersion::Any, prices)
            .await?;
    }
    for n in 0..orgs {
        let org = OrgId::new(format!("{prefix}-{n}")).map_err(invalid)?;
        let created = LedgerEvent::OrganizationCreated(OrganizationCreated {
            org_id: org.clone(),
            name: format!("{org} Inc."),
            currency: Currency::USD,
            billing_anchor: anchor,
            stripe_customer_id: None,
        });
        let mut usage = Vec::with_capacity(events);
        for i in 0..events {
            let (meter, _) = METERS[i % METERS.len()];
            let quantity: Quantity = format!("{}", 1000 + (i * 37 + n) % 5000)
                .parse()
                .map_err(|e| SyncError::Config(format!("{e}")))?;
            let used = LedgerEvent::UsageRecorded(UsageRecorded {
                org_id: org.clone(),
                meter: meter.into(),
                quantity,
                window: None,
                source: "bench".into(),
                attributes: Default::default(),
            });
            let at =
                anchor + Duration::milliseconds((i as i64 * 86_400_000) / events.max(1) as i64);
            usage.push(event(&used, at)?);
        }
        store
            .append(
                &StreamId::organization(&org),
                ExpectedVersion::Any,
                vec![event(&created, anchor)?],
            )
            .await?;
        for chunk in usage.chunks(5_000) {
            store
                .append(&StreamId::usage(&org), ExpectedVersion::Any, chunk.to_vec())
                .await?;
        }
    }
    Ok(())
}

/// Fold everything and close every ended period (grace 0).
pub async fn project_and_close(db: &Database, now: DateTime<Utc>) -> Result<(), SyncError> {
    let runner = projections::projector_for(db);
    runner.catch_up().await?;
    let store = db.event_store();
    projections::closer::close_periods(
        store.as_ref(),
        runner.tables().as_ref(),
        now,
        Duration::zero(),
    )
    .await?;
    runner.catch_up().await?;
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

#[derive(sqlx::FromRow)]
struct Calls {
    calls: i64,
}

/// Seed `invoices` organizations with `events_per_invoice` usage events in an
/// ended period, close it, and publish everything to `api`.
pub async fn run_bench(
    db: Database,
    api: Arc<dyn StripeApi>,
    invoices: usize,
    events_per_invoice: usize,
    options: SyncOptions,
) -> Result<BenchReport, SyncError> {
    let now = Utc::now();
    seed(
        db.event_store().as_ref(),
        "bench-org",
        invoices,
        events_per_invoice,
        past_anchor(now),
    )
    .await?;
    project_and_close(&db, now).await?;
    let started = std::time::Instant::now();
    let workers = options.workers.max(1);
    let projector = Arc::new(SyncProjector::new(db.clone(), api, options));
    projector.feed().await?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..workers {
        let p = projector.clone();
        tasks.spawn(async move {
            let name = format!("bench-{i}");
            while p.publish_next(&name).await? == Outcome::Worked {}
            Ok::<_, SyncError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| SyncError::Config(format!("bench worker failed: {e}")))??;
    }
    let calls = db
        .query_as::<Calls>("SELECT COALESCE(SUM(calls), 0) AS calls FROM stripe_publish")
        .fetch_one()
        .await?
        .calls;
    let usage_events = invoices * events_per_invoice;
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

/// A client configuration for a Stripe fake at `base_url` (any test key works).
pub fn fake_stripe_config(base_url: &str) -> crate::stripe::StripeConfig {
    crate::stripe::StripeConfig::new(
        base_url.to_owned(),
        secrecy::SecretString::from("sk_test_bench"),
    )
}
