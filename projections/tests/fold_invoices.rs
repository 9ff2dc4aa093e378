//! Given a history of events, when it is folded, then the invoice is
//! exactly what a billing engineer computes by hand.

mod fold_support;

use fold_support::*;
use projections::{InvoiceStatus, LineKind};
use rust_decimal::Decimal;

const MARCH: &str = "2026-03-01";

fn march_with_cpu(unit_price: &str) -> History {
    let mut h = History::with_org(MARCH);
    h.price_named(
        "p_cpu",
        "cpu",
        "CPU-second",
        "Shared CPU",
        per_unit(unit_price),
        "2026-01-01",
    );
    h
}

#[test]
fn usage_is_aggregated_per_meter_and_price_and_rounded_once() {
    let mut h = march_with_cpu("0.0000022");
    h.usage("cpu", "1000000", "2026-03-02T10:00:00Z");
    h.usage("cpu", "1592000", "2026-03-20T10:00:00Z");
    let invoice = h.invoice(MARCH);
    let cpu = line(&invoice, "usage:cpu:p_cpu");
    assert_eq!(
        (cpu.quantity, cpu.unit_price, cpu.amount),
        (d("2592000"), Some(d("0.0000022")), d("5.70"))
    );
    assert_eq!(
        cpu.description,
        "Shared CPU: 2,592,000 CPU-seconds × $0.0000022 per CPU-second = $5.70"
    );
    assert_eq!(cpu.unit.as_deref(), Some("CPU-second"));
    assert_eq!((invoice.subtotal, invoice.total), (d("5.70"), d("5.70")));
    assert_eq!((invoice.version, invoice.position), (2, 4));
    assert_eq!(invoice.period_end, t("2026-04-01"));
    assert_eq!(invoice.status, InvoiceStatus::Open);
}

#[test]
fn a_usage_lines_source_selects_the_events_folded_into_it() {
    let mut h = march_with_cpu("0.01");
    h.usage("cpu", "1", "2026-03-02T10:00:00Z");
    h.usage("cpu", "1", "2026-03-20T10:00:00Z");
    let source = line(&h.invoice(MARCH), "usage:cpu:p_cpu").source.clone();
    assert_eq!(source.meter.as_deref(), Some("cpu"));
    assert_eq!(source.occurred_from, Some(t("2026-03-02T10:00:00Z")));
    assert_eq!(source.occurred_to, Some(t("2026-03-20T10:00:00.000001Z")));
    assert_eq!(source.up_to_position, Some(4));
    assert!(source.event_types.contains(&"UsageCorrected".to_owned()));
}

#[test]
fn a_price_change_mid_period_splits_usage_into_one_line_per_price() {
    let mut h = march_with_cpu("0.01");
    h.price("p_cpu_2", "cpu", per_unit("0.02"), "2026-03-16");
    h.usage("cpu", "100", "2026-03-10");
    h.usage("cpu", "100", "2026-03-20");
    h.usage("cpu", "50", "2026-03-15T23:59:59Z");
    let invoice = h.invoice(MARCH);
    let ids: Vec<_> = invoice.lines.iter().map(|l| l.line_id.as_str()).collect();
    assert_eq!(ids, ["usage:cpu:p_cpu", "usage:cpu:p_cpu_2"]);
    assert_eq!(line(&invoice, "usage:cpu:p_cpu").amount, d("1.50"));
    assert_eq!(line(&invoice, "usage:cpu:p_cpu_2").amount, d("2.00"));
    assert_eq!(invoice.total, d("3.50"));
}

#[test]
fn the_free_allowance_is_used_once_per_meter_across_price_changes() {
    let mut h = History::with_org(MARCH);
    h.price(
        "a",
        "cpu",
        with_allowance(per_unit("0.01"), "150"),
        "2026-01-01",
    );
    h.price(
        "b",
        "cpu",
        with_allowance(per_unit("0.02"), "150"),
        "2026-03-16",
    );
    h.usage("cpu", "100", "2026-03-10");
    h.usage("cpu", "100", "2026-03-20");
    let invoice = h.invoice(MARCH);
    // 100 free under a; 50 of b's 150 left: 50 billable × 0.02.
    assert_eq!(line(&invoice, "usage:cpu:a").amount, d("0.00"));
    assert_eq!(line(&invoice, "usage:cpu:b").amount, d("1.00"));
    assert_eq!(
        line(&invoice, "usage:cpu:a").description,
        "cpu price: 100 units, all free (allowance 150 units per period) = $0.00"
    );
    assert_eq!(
        line(&invoice, "usage:cpu:b").description,
        "cpu price: 100 units, of which 50 units free (the rest of the period's 150 units allowance \
         after earlier usage); 50 units × $0.02 per unit = $1.00"
    );
}

#[test]
fn a_line_says_when_earlier_usage_used_up_the_allowance() {
    let mut h = History::with_org(MARCH);
    h.price_named(
        "a",
        "egress",
        "GB",
        "Egress",
        per_unit("0.01"),
        "2026-01-01",
    );
    h.price_named(
        "b",
        "egress",
        "GB",
        "Egress",
        with_allowance(per_unit("0.02"), "100"),
        "2026-03-16",
    );
    h.usage("egress", "120", "2026-03-10");
    h.usage("egress", "10", "2026-03-20");
    let b = line(&h.invoice(MARCH), "usage:egress:b").clone();
    assert_eq!(
        b.description,
        "Egress: 10 GB (the period's 100 GB allowance was used up by earlier usage); \
         10 GB × $0.02 per GB = $0.20"
    );
}

#[test]
fn usage_without_a_price_in_effect_stays_visible_at_zero() {
    let mut h = march_with_cpu("0.01");
    h.usage("gpu", "12", "2026-03-03");
    h.usage("cpu", "5", "2025-12-31T23:00:00Z"); // before p_cpu took effect
    let gpu = line(&h.invoice(MARCH), "usage:gpu:no-price").clone();
    assert_eq!((gpu.quantity, gpu.amount), (d("12"), Decimal::ZERO));
    assert!(gpu.description.contains("no price in effect"));
    let december = h.invoice("2025-12-01");
    assert_eq!(line(&december, "usage:cpu:no-price").amount, Decimal::ZERO);
}

#[test]
fn graduated_tiers_apply_to_the_periods_aggregate() {
    let mut h = History::with_org(MARCH);
    let spec = graduated(&[
        (Some("100"), "0.10", Some("5")),
        (Some("1000"), "0.05", None),
        (None, "0.01", Some("1")),
    ]);
    h.price_named("g", "gb", "GB", "Object storage", spec, "2026-01-01");
    for q in ["500", "700", "300"] {
        h.usage("gb", q, "2026-03-05");
    }
    let gb = line(&h.invoice(MARCH), "usage:gb:g").clone();
    assert_eq!(
        (gb.quantity, gb.amount, gb.tiers.len()),
        (d("1500"), d("66.00"), 3)
    );
    assert_eq!(
        gb.description,
        "Object storage: 1,500 GB; graduated: 100 GB × $0.10 + $5.00 flat fee (tier 1: up to 100 GB) \
         + 900 GB × $0.05 (tier 2: over 100 up to 1,000 GB) \
         + 500 GB × $0.01 + $1.00 flat fee (tier 3: over 1,000 GB) = $66.00"
    );
}

#[test]
fn volume_pricing_and_minimum_charge_show_up_on_their_lines() {
    let mut h = History::with_org(MARCH);
    h.price(
        "v",
        "egress",
        volume(&[(Some("100"), "0.10", None), (None, "0.05", Some("2"))]),
        "2026-01-01",
    );
    h.price_named(
        "m",
        "disk",
        "GB",
        "Volume snapshots",
        with_minimum(per_unit("0.01"), "5"),
        "2026-01-01",
    );
    h.usage("egress", "150", "2026-03-05");
    h.usage("disk", "100", "2026-03-05");
    let invoice = h.invoice(MARCH);
    assert_eq!(line(&invoice, "usage:egress:v").amount, d("9.50"));
    let disk = line(&invoice, "usage:disk:m");
    assert_eq!(disk.amount, d("5.00"));
    assert_eq!(
        disk.description,
        "Volume snapshots: 100 GB × $0.01 per GB = $1.00, raised to the $5.00 minimum charge per period"
    );
    let pricing = disk.pricing.as_ref().unwrap();
    assert_eq!(
        (pricing.minimum_charge, pricing.minimum_top_up),
        (Some(d("5")), Some(d("4")))
    );
}

#[test]
fn each_line_is_rounded_once_and_the_total_sums_rounded_lines() {
    let mut h = History::with_org(MARCH);
    h.price("half", "a", per_unit("0.125"), "2026-01-01");
    h.price("tiny", "b", per_unit("0.0015"), "2026-01-01");
    h.price("cent", "c", per_unit("0.005"), "2026-01-01");
    h.price("cent2", "e", per_unit("0.005"), "2026-01-01");
    h.usage("a", "1", "2026-03-05"); // 0.125 → 0.13
    h.usage("b", "3", "2026-03-05"); // 0.0045 → 0.00
    h.usage("c", "1", "2026-03-05"); // 0.005 → 0.01
    h.usage("e", "1", "2026-03-05"); // 0.005 → 0.01
    let invoice = h.invoice(MARCH);
    let amounts: Vec<_> = invoice.lines.iter().map(|l| l.amount).collect();
    assert_eq!(amounts, [d("0.13"), d("0.00"), d("0.01"), d("0.01")]);
    assert_eq!(invoice.total, d("0.15")); // not round(0.1395) = 0.14
}

#[test]
fn a_full_period_subscription_bills_the_monthly_fee() {
    let mut h = History::with_org(MARCH);
    h.subscribe("sub_1", "pro", "29", "2026-03-01");
    let fee = line(&h.invoice(MARCH), "fee:sub_1:2026-03-01").clone();
    assert_eq!(
        (fee.kind, fee.quantity, fee.amount),
        (LineKind::RecurringFee, d("31"), d("29.00"))
    );
}

#[test]
fn a_mid_period_start_is_prorated_by_whole_utc_days() {
    let mut h = History::with_org(MARCH);
    // Started during Mar 10: days 10–31, 22 of 31 days × 20 = 14.1935… → 14.19.
    h.subscribe("sub_1", "pro", "20", "2026-03-10T15:00:00Z");
    let fee = line(&h.invoice(MARCH), "fee:sub_1:2026-03-10").clone();
    assert_eq!((fee.quantity, fee.amount), (d("22"), d("14.19")));
    assert_eq!(
        fee.description,
        "Plan pro (sub_1), 2026-03-10 – 2026-03-31: $20.00 per month × 22/31 days = $14.19"
    );
    let proration = fee.proration.unwrap();
    assert_eq!((proration.days_billed, proration.days_in_period), (22, 31));
    assert_eq!(
        (proration.first_day, proration.last_day),
        (t("2026-03-10"), t("2026-03-31"))
    );
}

#[test]
fn a_plan_change_and_a_cancellation_split_the_fee_by_days() {
    let mut h = History::with_org(MARCH);
    h.subscribe("sub_1", "pro", "31", "2026-03-10");
    h.change_plan("sub_1", "team", "62", "2026-03-20T08:00:00Z");
    h.cancel("sub_1", "2026-03-25T18:00:00Z");
    let invoice = h.invoice(MARCH);
    // Mar 10–19: 10 days × 1.00; Mar 20–24: 5 days × 2.00 (the cancellation day is not billed).
    assert_eq!(line(&invoice, "fee:sub_1:2026-03-10").amount, d("10.00"));
    assert_eq!(line(&invoice, "fee:sub_1:2026-03-20").amount, d("10.00"));
    assert_eq!(invoice.lines.len(), 2);
    assert_eq!(invoice.version, 3);
}

#[test]
fn fees_appear_on_a_new_period_once_its_invoice_exists() {
    let mut h = History::with_org(MARCH);
    h.subscribe("sub_1", "pro", "29", "2026-03-01");
    assert!(h.fold().invoice(&key("2026-04-01")).unwrap().is_none());
    h.open("2026-04-01", "2026-05-01", "2026-04-01");
    let april = h.invoice("2026-04-01");
    assert_eq!(line(&april, "fee:sub_1:2026-04-01").amount, d("29.00"));
    assert_eq!(april.version, 1);
}

#[test]
fn charges_land_on_the_period_of_their_occurred_at() {
    let mut h = History::with_org(MARCH);
    h.charge("ch_9", "100.005", "2026-03-05");
    h.charge("ch_10", "1", "2026-04-02");
    let march = h.invoice(MARCH);
    let charge = line(&march, "charge:ch_9");
    assert_eq!(
        (charge.kind, charge.amount),
        (LineKind::Charge, d("100.01"))
    );
    assert_eq!(charge.source.ids, ["ch_9"]);
    assert_eq!(h.invoice("2026-04-01").total, d("1.00"));
}

#[test]
fn a_credit_is_a_negative_line_capped_at_the_total() {
    let mut h = History::with_org(MARCH);
    h.charge("ch_1", "100", "2026-03-05");
    h.credit("cr_1", "30", "2026-03-06");
    let invoice = h.invoice(MARCH);
    assert_eq!(line(&invoice, "credit:cr_1").amount, d("-30.00"));
    assert_eq!(
        (invoice.credit_applied, invoice.total),
        (d("30.00"), d("70.00"))
    );

    h.credit("cr_2", "150", "2026-03-07");
    let invoice = h.invoice(MARCH);
    assert_eq!(line(&invoice, "credit:cr_2").amount, d("-70.00"));
    assert_eq!(
        (invoice.total, invoice.credit_remaining),
        (d("0.00"), d("80.00"))
    );
}

#[test]
fn unused_credit_carries_forward_to_the_next_invoice_at_finalization() {
    let mut h = History::with_org(MARCH);
    h.charge("ch_1", "100", "2026-03-05");
    h.credit("cr_1", "150", "2026-03-06");
    h.charge("ch_2", "20", "2026-04-03");
    h.finalize(MARCH, "2026-04-01", "2026-04-01T01:00:00Z");
    let april = h.invoice("2026-04-01");
    let carried = line(&april, "credit:cr_1");
    assert_eq!(
        (carried.kind, carried.amount),
        (LineKind::Credit, d("-20.00"))
    );
    assert!(
        carried
            .description
            .contains("carried forward from 2026-03-01"),
        "{}",
        carried.description
    );
    assert_eq!(
        (april.total, april.credit_remaining),
        (d("0.00"), d("30.00"))
    );

    h.finalize("2026-04-01", "2026-05-01", "2026-05-01T01:00:00Z");
    let may = h.invoice("2026-05-01");
    assert_eq!(line(&may, "credit:cr_1").amount, d("0.00"));
    assert_eq!(may.credit_remaining, d("30.00"));
}

#[test]
fn finalizing_freezes_the_invoice_and_bumps_its_version_once() {
    let mut h = march_with_cpu("0.01");
    h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, "2026-04-01", "2026-04-01T01:00:00Z");
    h.finalize(MARCH, "2026-04-01", "2026-04-01T02:00:00Z"); // a second closer
    let invoice = h.invoice(MARCH);
    assert_eq!(invoice.status, InvoiceStatus::Finalized);
    assert_eq!((invoice.version, invoice.position), (2, 4));
}

#[test]
fn audit_only_events_change_nothing_and_bump_nothing() {
    let mut h = march_with_cpu("0.01");
    h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, "2026-04-01", "2026-04-01T01:00:00Z");
    let mut books = h.fold();
    let before = books.invoice(&key(MARCH)).unwrap();
    h.published(MARCH, 2, "2026-04-01T02:00:00Z");
    let changed = books.apply(h.events.last().unwrap()).unwrap();
    assert!(changed.is_empty());
    assert_eq!(books.invoice(&key(MARCH)).unwrap(), before);
}

#[test]
fn payment_events_move_the_status_and_count_as_changes() {
    let mut h = march_with_cpu("0.01");
    h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, "2026-04-01", "2026-04-01T01:00:00Z");
    h.payment_failed(MARCH, "card_declined", "2026-04-02");
    let failed = h.invoice(MARCH);
    assert_eq!(
        (
            failed.status,
            failed.payment_failed.as_deref(),
            failed.version
        ),
        (InvoiceStatus::Finalized, Some("card_declined"), 3)
    );
    h.paid(MARCH, "2026-04-03");
    h.paid(MARCH, "2026-04-04");
    let paid = h.invoice(MARCH);
    assert_eq!(
        (
            paid.status,
            paid.payment_failed,
            paid.version,
            paid.position
        ),
        (InvoiceStatus::Paid, None, 4, 6)
    );
    assert_eq!(paid.lines, failed.lines);
}

#[test]
fn voiding_a_finalized_invoice_keeps_its_lines() {
    let mut h = march_with_cpu("0.01");
    h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, "2026-04-01", "2026-04-01T01:00:00Z");
    h.voided(MARCH, "2026-04-02");
    let invoice = h.invoice(MARCH);
    assert_eq!(
        (invoice.status, invoice.total, invoice.version),
        (InvoiceStatus::Void, d("1.00"), 3)
    );
}

#[test]
fn apply_reports_exactly_the_invoices_that_changed() {
    let mut h = march_with_cpu("0.01");
    h.usage("cpu", "100", "2026-03-05");
    h.credit("cr_1", "5", "2026-03-06");
    h.finalize(MARCH, "2026-04-01", "2026-04-01T01:00:00Z");
    let mut books = projections::Books::default();
    let reported: Vec<Vec<String>> = h
        .events
        .iter()
        .map(|e| {
            books
                .apply(e)
                .unwrap()
                .iter()
                .map(|k| k.period_start.format("%m").to_string())
                .collect()
        })
        .collect();
    // org, price, usage, credit, finalize (carries the unused 4.00 to April).
    assert_eq!(
        reported,
        [vec![], vec![], vec!["03"], vec!["03"], vec!["03", "04"]]
    );
}

#[test]
fn events_of_unknown_organizations_are_counted_not_folded() {
    let mut h = History::default();
    h.usage("cpu", "1", "2026-03-05");
    let books = h.fold();
    assert!(books.orgs.is_empty());
    assert_eq!(books.ignored.unknown_org, 1);
}

#[test]
fn a_price_in_another_currency_is_not_in_effect() {
    let mut h = History::with_org(MARCH);
    h.push(
        ledger::LedgerEvent::PriceSet(ledger::event::PriceSet {
            price_id: "p_eur".into(),
            meter: "cpu".into(),
            currency: "EUR".parse().unwrap(),
            unit: "CPU-second".into(),
            description: "CPU in euros".into(),
            spec: per_unit("0.01"),
            effective_from: t("2026-01-01"),
        }),
        "2026-01-01",
    );
    h.usage("cpu", "100", "2026-03-05");
    let cpu = line(&h.invoice(MARCH), "usage:cpu:no-price").clone();
    assert_eq!((cpu.price_id, cpu.amount), (None, d("0.00")));
}

#[test]
fn voiding_an_open_invoice_carries_all_its_credits_forward() {
    let mut h = History::with_org(MARCH);
    h.charge("ch_1", "40", "2026-03-05");
    h.credit("cr_1", "25", "2026-03-06");
    h.voided(MARCH, "2026-03-20");
    let march = h.invoice(MARCH);
    assert_eq!(
        (march.status, march.total),
        (InvoiceStatus::Void, d("15.00"))
    );
    let april = h.invoice("2026-04-01");
    assert_eq!(april.credit_remaining, d("25.00"));
    assert_eq!(line(&april, "credit:cr_1").amount, d("0.00"));
}

#[test]
fn a_second_organization_created_for_the_same_id_is_counted_and_ignored() {
    let mut h = History::with_org(MARCH);
    let again = h.events[0].clone();
    h.push(again.decode().unwrap(), "2026-03-02");
    let books = h.fold();
    assert_eq!(books.ignored.duplicate_org, 1);
    assert_eq!(books.orgs[&org_id()].billing_anchor, t(MARCH));
}

#[test]
fn amounts_are_shown_at_the_currencys_minor_unit() {
    let mut h = march_with_cpu("0.01");
    h.usage("cpu", "100", "2026-03-05");
    let json = serde_json::to_value(h.invoice(MARCH)).unwrap();
    assert_eq!(json["lines"][0]["amount"], "1.00");
    assert_eq!(json["total"], "1.00");
    assert_eq!(json["credit_applied"], "0.00");
}

#[test]
fn a_currency_without_minor_units_rounds_to_whole_units() {
    let mut h = History::with_org_in(MARCH, "JPY");
    h.price_in("JPY", "p_yen", "cpu", per_unit("0.5"), "2026-01-01");
    h.usage("cpu", "3", "2026-03-05"); // 1.5 yen → 2
    h.charge("ch_1", "10.5", "2026-03-06"); // → 11
    let invoice = h.invoice(MARCH);
    assert_eq!(line(&invoice, "usage:cpu:p_yen").amount, d("2"));
    assert_eq!(invoice.total, d("13"));
    let json = serde_json::to_value(&invoice).unwrap();
    assert_eq!(json["total"], "13");
}

#[test]
fn proration_counts_the_days_of_a_clamped_february_period() {
    // Anchored on the 31st: the period Jan 31 – Feb 27 has 28 days.
    let mut h = History::with_org("2026-01-31");
    h.subscribe("sub_1", "pro", "28", "2026-02-14T09:00:00Z");
    let invoice = h.invoice("2026-01-31");
    assert_eq!(invoice.period_end, t("2026-02-28"));
    let fee = line(&invoice, "fee:sub_1:2026-02-14");
    assert_eq!((fee.quantity, fee.amount), (d("14"), d("14.00")));
}

#[test]
fn huge_quantities_aggregate_and_price_exactly() {
    let mut h = march_with_cpu("0.000000000001");
    for day in ["2026-03-02", "2026-03-03", "2026-03-04"] {
        h.usage("cpu", "1000000000000000", day);
    }
    let cpu = line(&h.invoice(MARCH), "usage:cpu:p_cpu").clone();
    assert_eq!(
        (cpu.quantity, cpu.amount),
        (d("3000000000000000"), d("3000.00"))
    );
    assert_eq!(
        cpu.description,
        "Shared CPU: 3,000,000,000,000,000 CPU-seconds × $0.000000000001 per CPU-second = $3,000.00"
    );
}
