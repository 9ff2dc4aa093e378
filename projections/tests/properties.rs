//! Property: for any history, folding it incrementally — in random batch
//! sizes, with the runner "crashing" (a fresh projector) between batches —
//! gives exactly the invoices of a full replay and of the as-of view at the
//! end, with the same checksum on PostgreSQL and on SQLite.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger::event::{
    ChargeAdded, CreditGranted, InvoiceFinalized, InvoiceKey, OrganizationCreated, PriceSet,
    UsageCorrected, UsageRecorded, UsageVoided,
};
use ledger::money::{Currency, Quantity};
use ledger::{EventStore, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use projections::period::period_containing;
use projections::rebuild::{checksum, replay};
use projections::tables::INVOICES;
use projections::views::{invoices_as_of, AsOf};
use projections::{projector_for, tables_for, Outcome};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Op {
    Usage {
        org: usize,
        meter: usize,
        milli: u32,
        hour: u32,
    },
    Charge {
        org: usize,
        cents: u32,
        hour: u32,
    },
    Credit {
        org: usize,
        cents: u32,
        hour: u32,
    },
    Correct {
        target: usize,
        milli: u32,
    },
    Void {
        target: usize,
    },
    Finalize {
        org: usize,
        month: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let hour = 0u32..(24 * 80);
    prop_oneof![
        6 => (0usize..3, 0usize..2, 0u32..5_000_000, hour.clone())
            .prop_map(|(org, meter, milli, hour)| Op::Usage { org, meter, milli, hour }),
        1 => (0usize..3, 1u32..100_000, hour.clone()).prop_map(|(org, cents, hour)| Op::Charge { org, cents, hour }),
        1 => (0usize..3, 1u32..100_000, hour).prop_map(|(org, cents, hour)| Op::Credit { org, cents, hour }),
        1 => (any::<usize>(), 0u32..5_000_000).prop_map(|(target, milli)| Op::Correct { target, milli }),
        1 => any::<usize>().prop_map(|target| Op::Void { target }),
        1 => (0usize..3, 0u32..2).prop_map(|(org, month)| Op::Finalize { org, month }),
    ]
}

/// An event to append: its stream, the event, `occurred_at` and event id.
type Planned = (StreamId, LedgerEvent, DateTime<Utc>, Uuid);
/// A recorded usage: id, org, meter, occurred_at, quantity in force, voided.
type Tracked = (Uuid, usize, &'static str, DateTime<Utc>, Quantity, bool);

fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap()
}

fn org(n: usize) -> OrgId {
    OrgId::new(format!("prop-{n}")).unwrap()
}

fn quantity(milli: u32) -> Quantity {
    Quantity::try_from(Decimal::new(i64::from(milli), 3)).unwrap()
}

/// Turn ops into (stream, event, occurred_at), tracking what corrections
/// and voids need to carry.
fn history(ops: &[Op]) -> Vec<Planned> {
    let start = anchor();
    let mut out = Vec::new();
    for (meter, spec) in [
        (
            "cpu",
            json!({"model": {"type": "per_unit", "unit_price": "0.0000022"}}),
        ),
        (
            "egress",
            json!({"model": {"type": "graduated", "tiers": [
            {"up_to": "1000", "unit_price": "0.09", "flat_fee": "1.5"},
            {"up_to": null, "unit_price": "0.045"}]}, "free_allowance": "100", "minimum_charge": "2"}),
        ),
    ] {
        let event = LedgerEvent::PriceSet(PriceSet {
            price_id: format!("price-{meter}"),
            meter: meter.into(),
            currency: Currency::USD,
            unit: "unit".into(),
            description: meter.into(),
            spec: serde_json::from_value(spec).unwrap(),
            effective_from: start,
        });
        out.push((StreamId::catalog(), event, start, Uuid::now_v7()));
    }
    for n in 0..3 {
        let event = LedgerEvent::OrganizationCreated(OrganizationCreated {
            org_id: org(n),
            name: format!("Prop {n}"),
            currency: Currency::USD,
            billing_anchor: start,
            stripe_customer_id: None,
        });
        out.push((
            StreamId::organization(&org(n)),
            event,
            start,
            Uuid::now_v7(),
        ));
    }
    // usage event id -> (org, meter, occurred_at, quantity in force, voided)
    let mut usages: Vec<Tracked> = Vec::new();
    let meters = ["cpu", "egress"];
    for op in ops {
        match *op {
            Op::Usage {
                org: o,
                meter,
                milli,
                hour,
            } => {
                let at = start + Duration::hours(i64::from(hour));
                let id = Uuid::now_v7();
                let event = LedgerEvent::UsageRecorded(UsageRecorded {
                    org_id: org(o),
                    meter: meters[meter].into(),
                    quantity: quantity(milli),
                    window: None,
                    source: "prop".into(),
                    attributes: BTreeMap::new(),
                });
                usages.push((id, o, meters[meter], at, quantity(milli), false));
                out.push((StreamId::usage(&org(o)), event, at, id));
            }
            Op::Charge {
                org: o,
                cents,
                hour,
            } => {
                let event = LedgerEvent::ChargeAdded(ChargeAdded {
                    org_id: org(o),
                    charge_id: format!("ch-{}", out.len()),
                    description: "support plan".into(),
                    amount: Decimal::new(i64::from(cents), 2).try_into().unwrap(),
                });
                let at = start + Duration::hours(i64::from(hour));
                out.push((StreamId::organization(&org(o)), event, at, Uuid::now_v7()));
            }
            Op::Credit {
                org: o,
                cents,
                hour,
            } => {
                let event = LedgerEvent::CreditGranted(CreditGranted {
                    org_id: org(o),
                    credit_id: format!("cr-{}", out.len()),
                    description: "goodwill".into(),
                    amount: Decimal::new(i64::from(cents), 2).try_into().unwrap(),
                });
                let at = start + Duration::hours(i64::from(hour));
                out.push((StreamId::organization(&org(o)), event, at, Uuid::now_v7()));
            }
            Op::Correct { target, milli } if !usages.is_empty() => {
                let i = target % usages.len();
                let (id, o, meter, at, previous, voided) = usages[i];
                if voided {
                    continue;
                }
                let event = LedgerEvent::UsageCorrected(UsageCorrected {
                    org_id: org(o),
                    usage_event_id: id,
                    meter: meter.into(),
                    usage_occurred_at: at,
                    previous_quantity: previous,
                    quantity: quantity(milli),
                    reason: "meter fix".into(),
                });
                usages[i].4 = quantity(milli);
                out.push((StreamId::usage(&org(o)), event, at, Uuid::now_v7()));
            }
            Op::Void { target } if !usages.is_empty() => {
                let i = target % usages.len();
                let (id, o, meter, at, previous, voided) = usages[i];
                if voided {
                    continue;
                }
                let event = LedgerEvent::UsageVoided(UsageVoided {
                    org_id: org(o),
                    usage_event_id: id,
                    meter: meter.into(),
                    usage_occurred_at: at,
                    previous_quantity: previous,
                    reason: "duplicate report".into(),
                });
                usages[i].5 = true;
                out.push((StreamId::usage(&org(o)), event, at, Uuid::now_v7()));
            }
            Op::Finalize { org: o, month } => {
                let at = start + Duration::days(31 * i64::from(month) + 1);
                let period = period_containing(start, at);
                let event = LedgerEvent::InvoiceFinalized(InvoiceFinalized {
                    invoice: InvoiceKey {
                        org_id: org(o),
                        period_start: period.start,
                    },
                    period_end: period.end,
                });
                let stream = StreamId::invoice(&org(o), period.start);
                out.push((stream, event, period.end, Uuid::now_v7()));
            }
            Op::Correct { .. } | Op::Void { .. } => {}
        }
    }
    out
}

async fn append_all(store: &dyn EventStore, events: &[Planned]) {
    for (stream, event, at, id) in events {
        let mut new = NewEvent::from_domain(event, *at).unwrap();
        new.event_id = *id;
        if let LedgerEvent::InvoiceFinalized(_) = event {
            // Two finalizes of one period: the second is a duplicate.
            new = new.with_idempotency_key(format!("finalize:{stream}"));
        }
        store
            .append(stream, ExpectedVersion::Any, vec![new])
            .await
            .unwrap();
    }
}

/// Fold incrementally with a fresh projector ("restart") per batch; return
/// the live checksum after checking it against a replay and as-of views.
async fn check_backend(db: testkit::TestDb, events: &[Planned], batches: &[u32]) -> String {
    let store = db.store();
    append_all(store.as_ref(), events).await;
    let mut sizes = batches.iter().cycle();
    loop {
        let size = *sizes.next().unwrap();
        match projector_for(&db.db)
            .with_batch_size(size)
            .try_process_next()
            .await
            .unwrap()
        {
            Outcome::Worked { .. } => {}
            Outcome::Idle => break,
        }
    }
    let tables = tables_for(&db.db);
    let generation = tables.active_generation(INVOICES).await.unwrap();
    let live = tables.invoices(generation).await.unwrap();
    let (books, _, _, _) = replay(store.as_ref(), None, &|_, _| {}).await.unwrap();
    assert_eq!(
        live,
        books.invoices().unwrap(),
        "incremental == full replay"
    );
    let head = store.head_position().await.unwrap();
    for n in 0..3 {
        let as_of = invoices_as_of(store.as_ref(), &org(n), AsOf::Position(head))
            .await
            .unwrap();
        let mine: Vec<_> = live
            .iter()
            .filter(|i| i.org_id == org(n))
            .cloned()
            .collect();
        assert_eq!(as_of, mine, "as-of at the head == live");
    }
    checksum(&live).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn incremental_folding_with_restarts_equals_rebuild_on_both_backends(
        ops in prop::collection::vec(op(), 1..60),
        batches in prop::collection::vec(1u32..25, 1..5),
    ) {
        let events = history(&ops);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (pg, lite) = runtime.block_on(async {
            let pg = check_backend(testkit::postgres().await, &events, &batches).await;
            let lite = check_backend(testkit::sqlite().await, &events, &batches).await;
            (pg, lite)
        });
        prop_assert_eq!(pg, lite, "same checksum on PostgreSQL and SQLite");
    }
}
