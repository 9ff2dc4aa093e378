//! Seed data for tests: prices, then organizations with usage in a
//! billing period that has already ended.

use chrono::{DateTime, Duration, DurationRound, Utc};
use ledger::event::{OrganizationCreated, PriceSet, UsageRecorded};
use ledger::money::{Currency, Quantity};
use ledger::pricing::PriceSpec;
use ledger::{EventStore, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StoreError, StreamId};

/// The meters the seed bills, with per-unit prices.
pub const METERS: [(&str, &str); 2] = [("cpu_seconds", "0.0000022"), ("egress_gb", "0.09")];

fn event(e: &LedgerEvent, at: DateTime<Utc>) -> Result<NewEvent, StoreError> {
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
) -> Result<(), StoreError> {
    let invalid = |e: ledger::event::InvalidId| StoreError::InvalidQuery(e.to_string());
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
                .map_err(|e| StoreError::InvalidQuery(format!("{e}")))?;
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
