//! The pure parts of the sync, given/when/then without a database: the
//! diff against the last published snapshot, amounts in minor units,
//! idempotency keys, the verification before finalizing, backoff and the
//! token bucket.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use ledger::money::Currency;
use ledger::OrgId;
use projections::{Invoice, InvoiceLine, InvoiceStatus, LineKind, LineSource};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sync::pace::{Backoff, TokenBucket};
use sync::snapshot::{
    desired, diff, idempotency_key, invoice_create_key, item_create_key, item_update_key, verify,
    Change, PublishedLine, Snapshot, StripeLine, STRIPE_DESCRIPTION_MAX,
};

fn line(id: &str, amount: Decimal) -> InvoiceLine {
    InvoiceLine {
        line_id: id.into(),
        kind: if amount < Decimal::ZERO {
            LineKind::Credit
        } else {
            LineKind::Usage
        },
        description: format!("{id}: 3 × 0.10"),
        meter: None,
        price_id: None,
        quantity: dec!(3),
        unit_price: Some(dec!(0.10)),
        amount,
        tiers: vec![],
        unit: None,
        pricing: None,
        proration: None,
        adjusts_period_start: None,
        source: LineSource::default(),
    }
}

fn invoice(lines: Vec<InvoiceLine>) -> Invoice {
    let total: Decimal = lines.iter().map(|l| l.amount).sum();
    Invoice {
        org_id: OrgId::new("org-1").unwrap(),
        period_start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        period_end: Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
        currency: Currency::USD,
        status: InvoiceStatus::Open,
        payment_failed: None,
        payment_status: Default::default(),
        paid_at: None,
        last_payment_failure: None,
        next_payment_attempt: None,
        version: 7,
        position: 42,
        lines,
        subtotal: total,
        credit_applied: Decimal::ZERO,
        total,
        credit_remaining: Decimal::ZERO,
    }
}

fn published(id: &str, amount: i64, description: &str) -> (String, PublishedLine) {
    (
        id.into(),
        PublishedLine {
            item_id: format!("ii_{id}"),
            amount,
            description: description.into(),
        },
    )
}

#[test]
fn amounts_are_exact_minor_units_and_credits_are_negative() {
    let want = desired(&invoice(vec![
        line("usage:cpu", dec!(12.35)),
        line("credit:c1", dec!(-2.00)),
    ]))
    .unwrap();
    assert_eq!(
        want.iter().map(|l| l.amount).collect::<Vec<_>>(),
        vec![1235, -200]
    );
    assert_eq!(want[0].metadata["ledger_line_id"], "usage:cpu");
    assert_eq!(want[0].metadata["ledger_quantity"], "3");
    assert_eq!(want[0].metadata["ledger_unit_price"], "0.10");
    assert_eq!(
        want[0].metadata["ledger_invoice"],
        "org-1/2026-01-01T00:00:00.000000Z"
    );
}

#[test]
fn stripe_gets_the_lines_own_description() {
    let mut usage = line("usage:cpu", dec!(3.35));
    usage.description =
        "shared-cpu-1x machine time: 4,185,699 seconds × $0.0000008 per second = $3.35".into();
    let want = desired(&invoice(vec![usage.clone()])).unwrap();
    assert_eq!(want[0].description, usage.description);
}

#[test]
fn a_description_longer_than_stripes_limit_is_cut_to_it() {
    let mut usage = line("usage:cpu", dec!(1.00));
    usage.description = "é".repeat(STRIPE_DESCRIPTION_MAX + 1);
    let want = desired(&invoice(vec![usage])).unwrap();
    assert_eq!(want[0].description.chars().count(), STRIPE_DESCRIPTION_MAX);
    assert!(want[0].description.ends_with('…'));
}

#[test]
fn the_description_limits_are_stripes_own() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../stripe-fake/openapi/stripe-subset.json"
    );
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for path in ["/v1/invoiceitems", "/v1/invoiceitems/{invoiceitem}"] {
        let max = &spec["paths"][path]["post"]["requestBody"]["schema"]["properties"]
            ["description"]["maxLength"];
        assert_eq!(max.as_u64(), Some(STRIPE_DESCRIPTION_MAX as u64), "{path}");
    }
    assert_eq!(projections::LINE_DESCRIPTION_MAX, STRIPE_DESCRIPTION_MAX);
}

#[test]
fn lines_that_do_not_add_up_to_the_total_are_refused_as_permanent() {
    let mut inv = invoice(vec![line("usage:cpu", dec!(1.00))]);
    inv.total = dec!(1.01);
    let err = desired(&inv).unwrap_err();
    assert!(err.is_permanent(), "{err}");
}

#[test]
fn an_unchanged_invoice_needs_no_calls() {
    let inv = invoice(vec![line("usage:cpu", dec!(1.00))]);
    let want = desired(&inv).unwrap();
    let snapshot: Snapshot = [published("usage:cpu", 100, &want[0].description)].into();
    assert_eq!(diff(&want, &snapshot), vec![]);
}

#[test]
fn only_changed_new_and_removed_lines_become_calls() {
    let inv = invoice(vec![
        line("usage:cpu", dec!(1.50)),
        line("usage:mem", dec!(2.00)),
        line("usage:new", dec!(0.10)),
    ]);
    let want = desired(&inv).unwrap();
    let snapshot: Snapshot = [
        published("usage:cpu", 100, &want[0].description),
        published("usage:mem", 200, &want[1].description),
        published("usage:gone", 300, "gone"),
    ]
    .into();
    let changes = diff(&want, &snapshot);
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert!(
        matches!(&changes[0], Change::Update { item_id, line } if item_id == "ii_usage:cpu" && line.amount == 150)
    );
    assert!(matches!(&changes[1], Change::Create(line) if line.line_id == "usage:new"));
    assert!(matches!(&changes[2], Change::Delete { line_id, .. } if line_id == "usage:gone"));
}

#[test]
fn idempotency_keys_repeat_for_the_same_call_and_differ_otherwise() {
    let k = |v, op, line| idempotency_key("org-1/2026-01-01", v, op, line).unwrap();
    assert_eq!(k(3, "item", "usage:cpu"), k(3, "item", "usage:cpu"));
    assert_ne!(k(3, "item", "usage:cpu"), k(4, "item", "usage:cpu"));
    assert_ne!(k(3, "item", "usage:cpu"), k(3, "item", "usage:mem"));
    assert_ne!(k(3, "item", "usage:cpu"), k(3, "item-update", "usage:cpu"));
    let long = "x".repeat(1000);
    assert!(
        idempotency_key(&long, 1, "item", &long)
            .unwrap()
            .as_str()
            .len()
            <= 255
    );
}

#[test]
fn backoff_is_jittered_below_a_cap_and_never_below_retry_after() {
    let b = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(2),
    };
    for attempt in 0..30 {
        let d = b.delay(attempt, None);
        assert!(d <= Duration::from_secs(2), "{d:?}");
    }
    assert!(b.delay(0, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_token_bucket_holds_the_rate_and_pauses_on_a_429() {
    let bucket = TokenBucket::new(10.0, 10.0);
    let start = tokio::time::Instant::now();
    for _ in 0..30 {
        bucket.acquire().await;
    }
    // 10 from the burst, then 20 at 10/s.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1_990) && took < Duration::from_millis(2_200),
        "{took:?}"
    );
    bucket.pause_for(Duration::from_secs(3)).await;
    let paused = tokio::time::Instant::now();
    bucket.acquire().await;
    assert!(paused.elapsed() >= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn the_token_bucket_says_how_long_instead_of_waiting_past_a_budget() {
    let bucket = TokenBucket::new(10.0, 1.0);
    bucket.pause_for(Duration::from_secs(75)).await;
    let start = tokio::time::Instant::now();
    let wait = bucket
        .acquire_within(Duration::from_secs(45))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "it did not wait at all");
    assert!(wait > Duration::from_secs(74), "{wait:?}");
    tokio::time::advance(Duration::from_secs(75)).await;
    assert_eq!(bucket.acquire_within(Duration::from_secs(1)).await, Ok(()));
}

fn stripe_line(n: u32, ledger_line: Option<&str>, amount: i64, description: &str) -> StripeLine {
    StripeLine {
        line_id: format!("il_{n}"),
        item_id: Some(format!("ii_{n}")),
        ledger_line: ledger_line.map(str::to_owned),
        amount,
        description: description.into(),
    }
}

#[test]
fn a_draft_holding_exactly_the_ledgers_lines_verifies() {
    let want = desired(&invoice(vec![
        line("usage:cpu", dec!(1.00)),
        line("usage:mem", dec!(2.00)),
    ]))
    .unwrap();
    let lines = [
        stripe_line(1, Some("usage:cpu"), 100, &want[0].description),
        stripe_line(2, Some("usage:mem"), 200, &want[1].description),
    ];
    let check = verify(&want, &lines);
    assert!(check.matches(), "{check:#?}");
    assert_eq!(check.snapshot["usage:mem"].item_id, "ii_2");
}

#[test]
fn duplicates_stale_wrong_and_missing_lines_are_each_named_for_correction() {
    let want = desired(&invoice(vec![
        line("usage:cpu", dec!(1.00)),
        line("usage:mem", dec!(2.00)),
        line("usage:net", dec!(0.50)),
    ]))
    .unwrap();
    let lines = [
        stripe_line(1, Some("usage:cpu"), 100, &want[0].description),
        stripe_line(2, Some("usage:cpu"), 100, &want[0].description),
        stripe_line(3, Some("usage:mem"), 251, &want[1].description),
        stripe_line(4, Some("usage:gone"), 7, "gone"),
    ];
    let check = verify(&want, &lines);
    assert!(!check.matches());
    assert_eq!(
        check.duplicates,
        vec!["ii_2".to_owned()],
        "the oldest is kept"
    );
    assert_eq!(check.stale, vec!["ii_4".to_owned()]);
    assert!(
        matches!(&check.wrong[..], [Change::Update { item_id, line }] if item_id == "ii_3" && line.amount == 200),
        "{:?}",
        check.wrong
    );
    assert_eq!(check.missing.len(), 1);
    assert_eq!(check.missing[0].line_id, "usage:net");
    assert_eq!(check.corrections(), 4);
    assert!(check.foreign.is_empty());
    let said = check.describe();
    assert!(said.contains("duplicate items: ii_2"), "{said}");
    assert!(said.contains("missing lines: usage:net (50)"), "{said}");
}

#[test]
fn a_line_not_from_the_ledger_is_never_corrected_only_named() {
    let want = desired(&invoice(vec![line("usage:cpu", dec!(1.00))])).unwrap();
    let lines = [
        stripe_line(1, Some("usage:cpu"), 100, &want[0].description),
        stripe_line(9, None, 500, "added by hand"),
    ];
    let check = verify(&want, &lines);
    assert!(!check.matches());
    assert_eq!(check.corrections(), 0);
    assert!(
        check
            .describe()
            .contains("lines not from the ledger: il_9 (500)"),
        "{}",
        check.describe()
    );
}

#[test]
fn the_keys_of_the_sync_s_calls_stay_the_same_across_invoice_versions() {
    let mut older = invoice(vec![
        line("usage:cpu", dec!(1.00)),
        line("usage:mem", dec!(2.00)),
    ]);
    older.version = 7;
    let mut newer = older.clone();
    newer.version = 8;
    newer.lines[1].amount = dec!(2.50);
    newer.total = dec!(3.50);
    let (a, b) = (desired(&older).unwrap(), desired(&newer).unwrap());
    // The same line with the same content: the same key, whichever version sent it.
    assert_eq!(
        item_create_key("in_1", &a[0]).unwrap(),
        item_create_key("in_1", &b[0]).unwrap()
    );
    // Other content is another call (Stripe refuses a key reused with other parameters).
    assert_ne!(
        item_create_key("in_1", &a[1]).unwrap(),
        item_create_key("in_1", &b[1]).unwrap()
    );
    assert_ne!(
        item_create_key("in_1", &a[0]).unwrap(),
        item_create_key("in_2", &a[0]).unwrap()
    );
    assert_ne!(
        item_update_key("ii_1", &a[1], "t1").unwrap(),
        item_update_key("ii_1", &b[1], "t1").unwrap()
    );
    // An update is repeated only by the retries of one attempt.
    assert_ne!(
        item_update_key("ii_1", &a[1], "t1").unwrap(),
        item_update_key("ii_1", &a[1], "t2").unwrap()
    );
    let tag = "org-1/2026-01-01T00:00:00.000000Z";
    assert_eq!(
        invoice_create_key(tag, "cus_1").unwrap(),
        invoice_create_key(tag, "cus_1").unwrap()
    );
    assert_ne!(
        invoice_create_key(tag, "cus_1").unwrap(),
        invoice_create_key(tag, "cus_2").unwrap()
    );
}
