//! Building realistic ledger histories for projection tests.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger::event::{
    ChargeAdded, OrganizationCreated, PriceSet, SubscriptionStarted, UsageRecorded,
};
use ledger::money::{Currency, Quantity};
use ledger::pricing::PriceSpec;
use ledger::{EventStore, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use serde_json::json;

pub fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

pub fn org(n: usize) -> OrgId {
    OrgId::new(format!("org-{n}")).unwrap()
}

pub async fn append(
    store: &dyn EventStore,
    stream: StreamId,
    event: LedgerEvent,
    at: DateTime<Utc>,
) -> i64 {
    let new = NewEvent::from_domain(&event, at).unwrap();
    store
        .append(&stream, ExpectedVersion::Any, vec![new])
        .await
        .unwrap()
        .results[0]
        .global_position()
}

pub async fn create_org(store: &dyn EventStore, org: &OrgId) {
    append(
        store,
        StreamId::organization(org),
        org_created(org),
        anchor(),
    )
    .await;
}

/// The `OrganizationCreated` event `create_org` appends, for tests that batch it.
pub fn org_created(org: &OrgId) -> LedgerEvent {
    LedgerEvent::OrganizationCreated(OrganizationCreated {
        org_id: org.clone(),
        name: format!("{org} Inc."),
        currency: Currency::USD,
        billing_anchor: anchor(),
        stripe_customer_id: None,
    })
}

pub async fn set_price(
    store: &dyn EventStore,
    meter: &str,
    spec: serde_json::Value,
    from: DateTime<Utc>,
) {
    let spec: PriceSpec = serde_json::from_value(spec).unwrap();
    let event = LedgerEvent::PriceSet(PriceSet {
        price_id: format!("price-{meter}-{}", from.format("%Y%m%d")),
        meter: meter.into(),
        currency: Currency::USD,
        unit: "unit".into(),
        description: format!("{meter} usage"),
        spec,
        effective_from: from,
    });
    append(store, StreamId::catalog(), event, from).await;
}

pub fn per_unit(price: &str) -> serde_json::Value {
    json!({"model": {"type": "per_unit", "unit_price": price}})
}

pub fn graduated() -> serde_json::Value {
    json!({"model": {"type": "graduated", "tiers": [
        {"up_to": "100", "unit_price": "0.10"},
        {"up_to": null, "unit_price": "0.05"}
    ]}, "free_allowance": "10"})
}

pub fn usage_event(org: &OrgId, meter: &str, quantity: &str) -> LedgerEvent {
    LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: meter.into(),
        quantity: quantity.parse::<Quantity>().unwrap(),
        window: None,
        source: "test".into(),
        attributes: BTreeMap::new(),
    })
}

pub async fn usage(
    store: &dyn EventStore,
    org: &OrgId,
    meter: &str,
    quantity: &str,
    at: DateTime<Utc>,
) -> i64 {
    append(
        store,
        StreamId::usage(org),
        usage_event(org, meter, quantity),
        at,
    )
    .await
}

pub async fn charge(
    store: &dyn EventStore,
    org: &OrgId,
    id: &str,
    amount: &str,
    at: DateTime<Utc>,
) {
    let event = LedgerEvent::ChargeAdded(ChargeAdded {
        org_id: org.clone(),
        charge_id: id.into(),
        description: format!("charge {id}"),
        amount: amount.parse().unwrap(),
    });
    append(store, StreamId::organization(org), event, at).await;
}

pub async fn subscribe(store: &dyn EventStore, org: &OrgId, fee: &str, at: DateTime<Utc>) {
    let event = LedgerEvent::SubscriptionStarted(SubscriptionStarted {
        org_id: org.clone(),
        subscription_id: format!("sub-{org}"),
        plan: "launch".into(),
        monthly_fee: fee.parse().unwrap(),
        effective_at: at,
    });
    append(store, StreamId::organization(org), event, at).await;
}

/// A small platform: 3 orgs, two meters, usage over two months, a charge
/// and a subscription. Returns the number of events appended.
pub async fn platform(store: &dyn EventStore) -> usize {
    set_price(store, "cpu_seconds", per_unit("0.0000022"), anchor()).await;
    set_price(store, "egress_gb", graduated(), anchor()).await;
    let mut n = 2;
    for i in 0..3 {
        let o = org(i);
        create_org(store, &o).await;
        subscribe(store, &o, "29.00", anchor() + Duration::days(3 + i as i64)).await;
        n += 2;
        for day in 0..45 {
            let at = anchor() + Duration::days(day) + Duration::hours(i as i64);
            usage(
                store,
                &o,
                "cpu_seconds",
                &format!("{}", 3600 * (day + 1)),
                at,
            )
            .await;
            usage(store, &o, "egress_gb", &format!("{}.25", day % 7), at).await;
            n += 2;
        }
        charge(
            store,
            &o,
            &format!("ch-{i}"),
            "12.345",
            anchor() + Duration::days(10),
        )
        .await;
        n += 1;
    }
    n
}

/// Stripe reports `org`'s invoice of the period starting `period_start`
/// paid at `at`.
pub async fn paid(
    store: &dyn EventStore,
    org: &OrgId,
    period_start: DateTime<Utc>,
    at: DateTime<Utc>,
) {
    let key = ledger::event::InvoiceKey {
        org_id: org.clone(),
        period_start,
    };
    let id = format!("{org}_{}", period_start.format("%Y%m%d"));
    let event = LedgerEvent::InvoicePaid(ledger::event::InvoicePaid {
        invoice: key.clone(),
        stripe_invoice_id: format!("in_{id}"),
        stripe_event_id: Some(format!("evt_{id}_paid")),
        paid_at: Some(at),
        paid_out_of_band: false,
    });
    append(store, key.stream(), event, at).await;
}
