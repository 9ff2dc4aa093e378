//! `billing demo` against a temporary SQLite database, its invoices checked
//! against totals computed here, independently, from the stored usage and
//! the catalog the demo documents.

use std::collections::BTreeMap;
use std::process::Command;

use ledger::store::AuditQuery;
use ledger::{EventStore, LedgerEvent};
use projections::fold::{InvoiceStatus, LineKind};
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;

fn round(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The demo catalog's prices, written out again by hand.
fn price(meter: &str, quantity: Decimal) -> Decimal {
    match meter {
        "shared_cpu_seconds" => quantity * dec!(0.0000008),
        "performance_cpu_seconds" => quantity * dec!(0.0000193),
        // volume: every unit at the tier the total reaches
        "volume_gb_hours" if quantity <= dec!(1000) => quantity * dec!(0.000205),
        "volume_gb_hours" => quantity * dec!(0.00015),
        // graduated after 100 GB free: 0.02 up to 10,000 GB, 0.01 above
        "egress_gb" => {
            let billable = (quantity - dec!(100)).max(Decimal::ZERO);
            let first = billable.min(dec!(9900));
            first * dec!(0.02) + (billable - first) * dec!(0.01)
        }
        other => panic!("unexpected meter {other}"),
    }
}

#[tokio::test]
async fn demo_invoices_match_totals_computed_from_its_usage() {
    let (url, _dir) = testkit::sqlite_url();
    let out = Command::new(env!("CARGO_BIN_EXE_billing"))
        .args([
            "demo",
            "--orgs",
            "8",
            "--usage-events",
            "6000",
            "--seed",
            "7",
        ])
        .env("DATABASE_URL", &url)
        .env_remove("STRIPE_API_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The report is all that stdout holds, and by default stderr holds no
    // routine log lines either (only warnings would be there).
    for log in [" INFO ", " DEBUG ", " WARN ", "\u{1b}["] {
        assert!(!stdout.contains(log), "a log line on stdout: {stdout}");
    }
    assert!(
        !stderr.contains(" INFO "),
        "routine logs by default: {stderr}"
    );
    for expected in [
        "re-sent duplicates were recognised",
        "invoices finalized",
        "in-process Stripe fake",
        "0 differences",
        "payments through the fake's signed webhooks",
        "card declined (insufficient_funds)",
        "uncollectible",
        "Why was",
        "as it stood mid-month",
        "billing serve",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }

    let db = ledger::db::Database::connect(&url).await.unwrap();
    let store = db.event_store();
    let tables = projections::tables_for(&db);
    let generation = tables
        .active_generation(projections::tables::INVOICES)
        .await
        .unwrap();
    let invoices = tables.invoices(generation).await.unwrap();
    let finalized: Vec<_> = invoices
        .iter()
        .filter(|i| matches!(i.status, InvoiceStatus::Finalized | InvoiceStatus::Paid))
        .collect();
    assert_eq!(finalized.len(), 8, "one closed invoice per organization");
    let paid = finalized
        .iter()
        .filter(|i| i.payment_status == projections::PaymentStatus::Paid)
        .count();
    assert!(paid >= 1, "the demo pays invoices through webhooks");
    let mut usage_events = 0;
    for invoice in finalized {
        // Usage of this org in the period, folded before it was finalized.
        let history = read_all(store.as_ref(), invoice.org_id.as_str()).await;
        let finalized_at = history
            .iter()
            .find(|e| e.event_type == "InvoiceFinalized")
            .map(|e| e.global_position)
            .expect("finalize event");
        let mut per_meter: BTreeMap<String, Decimal> = BTreeMap::new();
        for event in &history {
            if let Ok(LedgerEvent::UsageRecorded(u)) = event.decode() {
                usage_events += 1;
                let in_period = invoice.period_start <= event.occurred_at
                    && event.occurred_at < invoice.period_end;
                if in_period && event.global_position < finalized_at {
                    *per_meter.entry(u.meter).or_default() += u.quantity.value();
                }
            }
        }
        let lines: BTreeMap<String, (Decimal, Decimal)> = invoice
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Usage)
            .map(|l| (l.meter.clone().unwrap(), (l.quantity, l.amount)))
            .collect();
        assert_eq!(
            lines.keys().collect::<Vec<_>>(),
            per_meter.keys().collect::<Vec<_>>(),
            "{}",
            invoice.org_id
        );
        for (meter, quantity) in &per_meter {
            let (line_quantity, line_amount) = lines[meter];
            assert_eq!(
                line_quantity, *quantity,
                "{} {meter} quantity",
                invoice.org_id
            );
            assert_eq!(
                line_amount,
                round(price(meter, *quantity)),
                "{} {meter} amount",
                invoice.org_id
            );
        }
        let sum: Decimal = invoice.lines.iter().map(|l| l.amount).sum();
        assert_eq!(invoice.total, sum.max(Decimal::ZERO), "{}", invoice.org_id);
    }
    assert_eq!(
        usage_events,
        6000 + 300,
        "usage plus late arrivals; re-sent duplicates stored nothing"
    );
}

async fn read_all(store: &dyn EventStore, org: &str) -> Vec<ledger::RecordedEvent> {
    let mut query = AuditQuery {
        org_id: org.to_owned(),
        limit: 10_000,
        ..AuditQuery::default()
    };
    let mut events = Vec::new();
    loop {
        let page = store.read_audit(&query).await.unwrap();
        events.extend(page.items);
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return events,
        }
    }
}
