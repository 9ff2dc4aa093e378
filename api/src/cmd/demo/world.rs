//! The demo platform: a catalog, organizations on plans, and a month of
//! usage generated deterministically from a seed.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use ledger::event::{
    ChargeAdded, CreditGranted, EventMetadata, InvoiceKey, InvoicePeriodOpened,
    OrganizationCreated, PriceSet, SubscriptionStarted, UsageRecorded,
};
use ledger::money::{Currency, Quantity};
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamAppend, StreamId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

/// (meter, description, unit, spec, weight in the usage mix)
pub const CATALOG: &[(&str, &str, &str, &str, u32)] = &[
    (
        "shared_cpu_seconds",
        "shared-cpu-1x machine time",
        "second",
        r#"{"model": {"type": "per_unit", "unit_price": "0.0000008"}}"#,
        5,
    ),
    (
        "performance_cpu_seconds",
        "performance-cpu-1x machine time",
        "second",
        r#"{"model": {"type": "per_unit", "unit_price": "0.0000193"}}"#,
        2,
    ),
    (
        "volume_gb_hours",
        "volume storage",
        "GB-hour",
        r#"{"model": {"type": "volume", "tiers": [{"up_to": "1000", "unit_price": "0.000205"}, {"up_to": null, "unit_price": "0.00015"}]}}"#,
        2,
    ),
    (
        "egress_gb",
        "outbound data transfer",
        "GB",
        r#"{"model": {"type": "graduated", "tiers": [{"up_to": "10000", "unit_price": "0.02"}, {"up_to": null, "unit_price": "0.01"}]}, "free_allowance": "100"}"#,
        1,
    ),
];

const PLANS: &[(&str, &str)] = &[("hobby", "5.00"), ("launch", "29.00"), ("scale", "99.00")];
const WORDS: &[&str] = &[
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "soylent",
];
const SUFFIX: &[&str] = &["labs", "cloud", "apps", "io", "hq"];

pub fn metadata() -> EventMetadata {
    EventMetadata {
        actor: Some("billing-demo".into()),
        source: Some("demo".into()),
        ..EventMetadata::default()
    }
}

pub fn org(n: usize) -> OrgId {
    let name = format!(
        "{}-{}-{n:02}",
        WORDS[n % WORDS.len()],
        SUFFIX[(n / WORDS.len()) % SUFFIX.len()]
    );
    OrgId::new(name).unwrap_or_else(|_| OrgId::new(format!("org-{n}")).expect("valid id"))
}

fn event(e: LedgerEvent, at: DateTime<Utc>) -> anyhow::Result<NewEvent> {
    Ok(NewEvent::from_domain(&e, at)?.with_metadata(metadata()))
}

/// Catalog, organizations (each with its first period opened), plans,
/// charges and credits: one atomic append.
pub fn setup(
    orgs: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<StreamAppend>> {
    let mut prices = Vec::new();
    for (meter, description, unit, spec, _) in CATALOG {
        prices.push(event(
            LedgerEvent::PriceSet(PriceSet {
                price_id: format!("{meter}-v1"),
                meter: (*meter).into(),
                currency: Currency::USD,
                unit: (*unit).into(),
                description: (*description).into(),
                spec: serde_json::from_str(spec)?,
                effective_from: start,
            }),
            start,
        )?);
    }
    let mut appends = vec![StreamAppend {
        stream_id: StreamId::catalog(),
        expected: ExpectedVersion::Any,
        events: prices,
    }];
    for n in 0..orgs {
        let id = org(n);
        let mut events = vec![event(
            LedgerEvent::OrganizationCreated(OrganizationCreated {
                org_id: id.clone(),
                name: id.as_str().replace('-', " "),
                currency: Currency::USD,
                billing_anchor: start,
                stripe_customer_id: None,
            }),
            start,
        )?];
        if n % 4 != 3 {
            let (plan, fee) = PLANS[n % 4 % PLANS.len()];
            // Every seventh organization joins mid-month: a prorated fee.
            let at = if n % 7 == 0 {
                start + Duration::days(9)
            } else {
                start
            };
            events.push(event(
                LedgerEvent::SubscriptionStarted(SubscriptionStarted {
                    org_id: id.clone(),
                    subscription_id: format!("sub-{id}"),
                    plan: plan.into(),
                    monthly_fee: fee.parse()?,
                    effective_at: at,
                }),
                at,
            )?);
        }
        if n % 5 == 0 {
            events.push(event(
                LedgerEvent::ChargeAdded(ChargeAdded {
                    org_id: id.clone(),
                    charge_id: format!("ipv4-{id}"),
                    description: "Dedicated IPv4 address".into(),
                    amount: "2.00".parse()?,
                }),
                start + Duration::days(2),
            )?);
        }
        if n % 6 == 0 {
            events.push(event(
                LedgerEvent::CreditGranted(CreditGranted {
                    org_id: id.clone(),
                    credit_id: format!("startup-{id}"),
                    description: "Startup credit".into(),
                    amount: "25.00".parse()?,
                }),
                start,
            )?);
        }
        appends.push(StreamAppend {
            stream_id: StreamId::organization(&id),
            expected: ExpectedVersion::NoStream,
            events,
        });
        let opened = LedgerEvent::InvoicePeriodOpened(InvoicePeriodOpened {
            invoice: InvoiceKey {
                org_id: id.clone(),
                period_start: start,
            },
            period_end: end,
        });
        appends.push(StreamAppend {
            stream_id: StreamId::invoice(&id, start),
            expected: ExpectedVersion::Any,
            events: vec![event(opened, start)?],
        });
    }
    Ok(appends)
}

/// `count` usage events over `[start, end)`, in time order, for `orgs`
/// organizations of very different sizes; keys `{prefix}-{n}`.
pub fn usage(
    count: usize,
    orgs: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    seed: u64,
    prefix: &str,
) -> anyhow::Result<Vec<NewEvent>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let span = (end - start).num_seconds().max(1);
    let total_weight: u32 = CATALOG.iter().map(|c| c.4).sum();
    let mut events = Vec::with_capacity(count);
    for n in 0..count {
        // Org n's share grows with n: a long tail of small organizations.
        let o = ((rng.random::<f64>().powf(0.6)) * orgs as f64) as usize % orgs.max(1);
        let mut pick = rng.random_range(0..total_weight);
        let (meter, ..) = CATALOG
            .iter()
            .find(|c| {
                if pick < c.4 {
                    true
                } else {
                    pick -= c.4;
                    false
                }
            })
            .unwrap_or(&CATALOG[0]);
        let quantity = match *meter {
            "shared_cpu_seconds" => Decimal::from(rng.random_range(1..3_600)),
            "performance_cpu_seconds" => Decimal::from(rng.random_range(1..900)),
            "volume_gb_hours" => Decimal::new(rng.random_range(1..50_000), 3),
            _ => Decimal::new(rng.random_range(1..5_000), 3),
        };
        let source = if meter.ends_with("cpu_seconds") {
            "flyd"
        } else if *meter == "volume_gb_hours" {
            "volumes"
        } else {
            "fly-proxy"
        };
        let at = start + Duration::seconds(rng.random_range(0..span));
        let e = LedgerEvent::UsageRecorded(UsageRecorded {
            org_id: org(o),
            meter: (*meter).into(),
            quantity: Quantity::try_from(quantity)?,
            window: None,
            source: source.into(),
            attributes: BTreeMap::from([
                ("app".to_owned(), format!("app-{}", rng.random_range(0..5))),
                (
                    "region".to_owned(),
                    ["ord", "iad", "ams", "nrt", "syd"][rng.random_range(0..5)].to_owned(),
                ),
            ]),
        });
        events.push(
            NewEvent::from_domain(&e, at)?
                .with_idempotency_key(format!("{prefix}-{n}"))
                .with_metadata(EventMetadata {
                    actor: Some(source.into()),
                    source: Some("demo:usage".into()),
                    ..EventMetadata::default()
                }),
        );
    }
    events.sort_by_key(|e| e.occurred_at);
    Ok(events)
}

/// Group events into one append per organization's usage stream.
pub fn batch(events: Vec<NewEvent>) -> Vec<StreamAppend> {
    let mut by_org: BTreeMap<String, Vec<NewEvent>> = BTreeMap::new();
    for e in events {
        by_org
            .entry(e.org_id.clone().unwrap_or_default())
            .or_default()
            .push(e);
    }
    by_org
        .into_iter()
        .filter_map(|(org, events)| {
            let org = OrgId::new(org).ok()?;
            Some(StreamAppend {
                stream_id: StreamId::usage(&org),
                expected: ExpectedVersion::Any,
                events,
            })
        })
        .collect()
}
