//! Realistic usage traffic for benchmarks: many organizations, a few
//! meters, random client idempotency keys, ~200-byte payloads.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger::event::{EventMetadata, OrganizationCreated, PriceSet, UsageRecorded};
use ledger::money::{Currency, Quantity};
use ledger::pricing::PriceSpec;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamAppend, StreamId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

pub const METERS: &[&str] = &[
    "cpu_seconds",
    "memory_gb_seconds",
    "volume_gb_hours",
    "egress_bytes",
];
const REGIONS: &[&str] = &["ord", "iad", "ams", "nrt", "syd", "gru"];

pub fn org_id(n: usize) -> OrgId {
    OrgId::new(format!("org-{n:05}")).expect("generated org ids are valid")
}

/// `events` usage events in batches of `batch`, spread over `orgs`
/// organizations and the first 28 days from `start`. Within a batch, events are
/// grouped per usage stream (one `StreamAppend` each), as an ingesting
/// service would send them.
pub fn usage_batches(
    events: usize,
    batch: usize,
    orgs: usize,
    seed: u64,
    start: DateTime<Utc>,
) -> anyhow::Result<Vec<Vec<StreamAppend>>> {
    let mut rng = StdRng::seed_from_u64(seed);
    // 28 days: inside the first period of any monthly anchor at `start`.
    let month_seconds = 28 * 24 * 3600;
    let metadata = EventMetadata {
        actor: Some("bench".into()),
        source: Some("bench:usage".into()),
        ..EventMetadata::default()
    };
    let mut batches = Vec::with_capacity(events.div_ceil(batch.max(1)));
    let mut made = 0;
    while made < events {
        let size = batch.max(1).min(events - made);
        let mut by_stream: BTreeMap<StreamId, Vec<NewEvent>> = BTreeMap::new();
        for _ in 0..size {
            let org = org_id(rng.random_range(0..orgs.max(1)));
            let meter = METERS[rng.random_range(0..METERS.len())];
            let quantity = Quantity::try_from(Decimal::new(rng.random_range(1..10_000_000), 3))?;
            let attributes = BTreeMap::from([
                ("app".to_owned(), format!("app-{}", rng.random_range(0..50))),
                (
                    "region".to_owned(),
                    REGIONS[rng.random_range(0..REGIONS.len())].to_owned(),
                ),
            ]);
            let event = LedgerEvent::UsageRecorded(UsageRecorded {
                org_id: org.clone(),
                meter: meter.to_owned(),
                quantity,
                window: None,
                source: "flyd".into(),
                attributes,
            });
            let at = start + Duration::seconds(rng.random_range(0..month_seconds));
            let key = uuid::Uuid::from_u128(rng.random()).to_string();
            let new = NewEvent::from_domain(&event, at)?
                .with_idempotency_key(key)
                .with_metadata(metadata.clone());
            by_stream
                .entry(StreamId::usage(&org))
                .or_default()
                .push(new);
        }
        batches.push(
            by_stream
                .into_iter()
                .map(|(stream_id, events)| StreamAppend {
                    stream_id,
                    expected: ExpectedVersion::Any,
                    events,
                })
                .collect(),
        );
        made += size;
    }
    Ok(batches)
}

/// The catalog (one price per meter, `spec` as JSON) and `orgs`
/// organizations billed from `anchor`: the appends a benchmark's store
/// needs before usage.
pub fn setup(
    orgs: usize,
    anchor: DateTime<Utc>,
    spec: &serde_json::Value,
) -> anyhow::Result<Vec<StreamAppend>> {
    let mut prices = Vec::with_capacity(METERS.len());
    for meter in METERS {
        let event = LedgerEvent::PriceSet(PriceSet {
            price_id: format!("price-{meter}"),
            meter: (*meter).to_owned(),
            currency: Currency::USD,
            unit: "unit".into(),
            description: meter.replace('_', " "),
            spec: serde_json::from_value::<PriceSpec>(spec.clone())?,
            effective_from: anchor - Duration::days(365),
        });
        prices.push(NewEvent::from_domain(&event, anchor)?);
    }
    let mut setup = vec![StreamAppend {
        stream_id: StreamId::catalog(),
        expected: ExpectedVersion::Any,
        events: prices,
    }];
    for n in 0..orgs {
        let org = org_id(n);
        let event = LedgerEvent::OrganizationCreated(OrganizationCreated {
            org_id: org.clone(),
            name: format!("Org {n}"),
            currency: Currency::USD,
            billing_anchor: anchor,
            stripe_customer_id: None,
        });
        setup.push(StreamAppend {
            stream_id: StreamId::organization(&org),
            expected: ExpectedVersion::NoStream,
            events: vec![NewEvent::from_domain(&event, anchor)?],
        });
    }
    Ok(setup)
}

/// The first day of the benchmark month.
pub fn bench_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

/// The stream versions an empty store assigns when the batches are
/// appended in order — what the baseline inserts verbatim.
pub fn expected_versions(batches: &[Vec<StreamAppend>]) -> Vec<Vec<i64>> {
    let mut current: HashMap<&StreamId, i64> = HashMap::new();
    batches
        .iter()
        .map(|batch| {
            batch
                .iter()
                .flat_map(|append| {
                    let version = current.entry(&append.stream_id).or_insert(0);
                    let start = *version;
                    *version += append.events.len() as i64;
                    (1..=append.events.len() as i64).map(move |i| start + i)
                })
                .collect()
        })
        .collect()
}
