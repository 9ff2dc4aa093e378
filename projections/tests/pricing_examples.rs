//! Every worked example of docs/pricing.md, computed by the fold: the doc
//! and these tests state the same numbers (each test names its section).

mod fold_support;

use fold_support::*;
use projections::{Invoice, LineKind};

const FEB: &str = "2026-02-01";
const MARCH: &str = "2026-03-01";
const APRIL: &str = "2026-04-01";
const MAY: &str = "2026-05-01";

/// An org anchored on March 1st with one price for `meter`.
fn march_with(meter: &str, unit: &str, spec: ledger::pricing::PriceSpec) -> History {
    let mut h = History::with_org(MARCH);
    h.price_named("p", meter, unit, "Example", spec, "2026-01-01");
    h
}

fn amounts(invoice: &Invoice) -> Vec<(String, String)> {
    invoice
        .lines
        .iter()
        .map(|l| (l.line_id.clone(), l.amount.to_string()))
        .collect()
}

fn ids_and_amounts(rows: &[(&str, &str)]) -> Vec<(String, String)> {
    rows.iter()
        .map(|(id, a)| ((*id).to_owned(), (*a).to_owned()))
        .collect()
}

// § Rounding

#[test]
fn rounding_r1_each_line_is_rounded_once_half_away_from_zero_and_the_total_sums_rounded_lines() {
    let mut h = History::with_org(MARCH);
    h.price("a", "a", per_unit("0.125"), "2026-01-01");
    h.price("b", "b", per_unit("0.0015"), "2026-01-01");
    h.price("c", "c", per_unit("0.005"), "2026-01-01");
    h.usage("a", "1", "2026-03-05");
    h.usage("b", "3", "2026-03-05");
    h.usage("c", "1", "2026-03-05");
    let invoice = h.invoice(MARCH);
    assert_eq!(
        amounts(&invoice),
        ids_and_amounts(&[
            ("usage:a:a", "0.13"),
            ("usage:b:b", "0.00"),
            ("usage:c:c", "0.01")
        ])
    );
    // Not round(0.125 + 0.0045 + 0.005) = round(0.1345) = 0.13.
    assert_eq!(invoice.total.to_string(), "0.14");
}

#[test]
fn rounding_r2_a_yen_invoice_has_no_decimal_places() {
    let mut h = History::with_org_in(MARCH, "JPY");
    h.price_in("JPY", "p", "cpu", per_unit("2"), "2026-01-01");
    h.usage("cpu", "10.25", "2026-03-05");
    let invoice = h.invoice(MARCH);
    // 10.25 × 2 = 20.5 → ¥21 (half away from zero).
    assert_eq!(invoice.total.to_string(), "21");
}

// § Per-unit

#[test]
fn per_unit_p1_quantity_times_unit_price() {
    let mut h = march_with("cpu", "second", per_unit("0.0000008"));
    h.usage("cpu", "4185699", "2026-03-05");
    let cpu = line(&h.invoice(MARCH), "usage:cpu:p").clone();
    // 4,185,699 × 0.0000008 = 3.3485592 → 3.35
    assert_eq!(
        cpu.pricing.as_ref().unwrap().amount_unrounded,
        d("3.3485592")
    );
    assert_eq!(cpu.amount.to_string(), "3.35");
    assert_eq!(
        cpu.description,
        "Example: 4,185,699 seconds × $0.0000008 per second = $3.35"
    );
}

// § Free allowance

#[test]
fn allowance_a1_the_first_units_of_the_period_are_free() {
    let mut h = march_with("egress", "GB", with_allowance(per_unit("0.02"), "100"));
    h.usage("egress", "200", "2026-03-05");
    h.usage("egress", "150", "2026-03-20");
    let egress = line(&h.invoice(MARCH), "usage:egress:p").clone();
    let pricing = egress.pricing.as_ref().unwrap();
    assert_eq!(
        (pricing.free_quantity, pricing.billable_quantity),
        (Some(d("100")), Some(d("250")))
    );
    assert_eq!(egress.amount.to_string(), "5.00");
    assert_eq!(
        egress.description,
        "Example: 350 GB, of which 100 GB free (allowance 100 GB per period); 250 GB × $0.02 per GB = $5.00"
    );
}

#[test]
fn allowance_a2_one_allowance_per_period_across_a_price_change() {
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
    // a: 100 units, all free. b: 150 − 100 = 50 free, 50 × 0.02 = 1.00.
    assert_eq!(
        amounts(&invoice),
        ids_and_amounts(&[("usage:cpu:a", "0.00"), ("usage:cpu:b", "1.00")])
    );
    let b = line(&invoice, "usage:cpu:b").pricing.clone().unwrap();
    assert_eq!(b.free_quantity, Some(d("50")));
}

#[test]
fn allowance_a3_a_new_price_starts_its_tiers_from_zero() {
    let mut h = History::with_org(MARCH);
    let tiers = || graduated(&[(Some("100"), "0.10", None), (None, "0.05", None)]);
    h.price("a", "cpu", tiers(), "2026-01-01");
    h.price("b", "cpu", tiers(), "2026-03-16");
    h.usage("cpu", "150", "2026-03-10");
    h.usage("cpu", "150", "2026-03-20");
    let invoice = h.invoice(MARCH);
    // Each: 100 × 0.10 + 50 × 0.05 = 12.50.
    assert_eq!(
        amounts(&invoice),
        ids_and_amounts(&[("usage:cpu:a", "12.50"), ("usage:cpu:b", "12.50")])
    );
}

// § Graduated tiers

#[test]
fn graduated_g1_each_tier_prices_the_units_inside_it() {
    let spec = graduated(&[
        (Some("100"), "0.10", Some("5")),
        (Some("1000"), "0.05", None),
        (None, "0.01", Some("1")),
    ]);
    let mut h = march_with("gb", "GB", spec);
    h.usage("gb", "1500", "2026-03-05");
    let gb = line(&h.invoice(MARCH), "usage:gb:p").clone();
    let tiers: Vec<_> = gb.tiers.iter().map(|t| (t.quantity, t.amount)).collect();
    assert_eq!(
        tiers,
        [(d("100"), d("15")), (d("900"), d("45")), (d("500"), d("6"))]
    );
    assert_eq!(gb.amount.to_string(), "66.00");
}

#[test]
fn graduated_g2_bounds_are_inclusive_and_a_flat_fee_needs_a_unit_in_its_tier() {
    let spec = || graduated(&[(Some("100"), "0.10", Some("5")), (None, "0.05", Some("7"))]);
    let mut exactly = march_with("gb", "GB", spec());
    exactly.usage("gb", "100", "2026-03-05");
    assert_eq!(
        line(&exactly.invoice(MARCH), "usage:gb:p")
            .amount
            .to_string(),
        "15.00"
    );
    let mut over = march_with("gb", "GB", spec());
    over.usage("gb", "100.5", "2026-03-05");
    // 15 + 0.5 × 0.05 + 7 = 22.025 → 22.03
    assert_eq!(
        line(&over.invoice(MARCH), "usage:gb:p").amount.to_string(),
        "22.03"
    );
}

// § Volume tiers

#[test]
fn volume_v1_the_tier_the_quantity_reaches_prices_every_unit() {
    let spec = || {
        volume(&[
            (Some("100"), "0.10", None),
            (Some("1000"), "0.05", Some("2")),
            (None, "0.01", None),
        ])
    };
    for (quantity, amount) in [("100", "10.00"), ("101", "7.05"), ("5000", "50.00")] {
        let mut h = march_with("gb", "GB", spec());
        h.usage("gb", quantity, "2026-03-05");
        assert_eq!(
            line(&h.invoice(MARCH), "usage:gb:p").amount.to_string(),
            amount,
            "{quantity} GB"
        );
    }
}

#[test]
fn volume_v2_volume_storage_in_the_demo() {
    let spec = volume(&[(Some("1000"), "0.000205", None), (None, "0.00015", None)]);
    let mut h = march_with("vol", "GB-hour", spec);
    h.usage("vol", "23214.447", "2026-03-05");
    let vol = line(&h.invoice(MARCH), "usage:vol:p").clone();
    // 23,214.447 × 0.00015 = 3.48216705 → 3.48
    assert_eq!(
        vol.pricing.as_ref().unwrap().amount_unrounded,
        d("3.48216705")
    );
    assert_eq!(vol.amount.to_string(), "3.48");
    assert_eq!(
        vol.description,
        "Example: 23,214.447 GB-hours; volume pricing, tier 2 (over 1,000 GB-hours) prices every unit: \
         23,214.447 GB-hours × $0.00015 per GB-hour = $3.48"
    );
}

// § Flat fees

#[test]
fn flat_fee_f1_free_units_do_not_enter_a_tier() {
    let spec = || {
        with_allowance(
            graduated(&[(Some("50"), "0.10", Some("3")), (None, "0.05", None)]),
            "100",
        )
    };
    let mut free = march_with("gb", "GB", spec());
    free.usage("gb", "100", "2026-03-05");
    assert_eq!(
        line(&free.invoice(MARCH), "usage:gb:p").amount.to_string(),
        "0.00"
    );
    let mut billed = march_with("gb", "GB", spec());
    billed.usage("gb", "150", "2026-03-05");
    // 50 billable units, all in tier 1: 50 × 0.10 + 3 = 8.00
    assert_eq!(
        line(&billed.invoice(MARCH), "usage:gb:p")
            .amount
            .to_string(),
        "8.00"
    );
}

// § Minimum charge

#[test]
fn minimum_m1_a_small_amount_is_raised_to_the_minimum() {
    let spec = || with_minimum(per_unit("0.01"), "5");
    let mut small = march_with("disk", "GB", spec());
    small.usage("disk", "100", "2026-03-05");
    let disk = line(&small.invoice(MARCH), "usage:disk:p").clone();
    assert_eq!(disk.amount.to_string(), "5.00");
    assert_eq!(disk.pricing.as_ref().unwrap().minimum_top_up, Some(d("4")));
    assert_eq!(
        disk.description,
        "Example: 100 GB × $0.01 per GB = $1.00, raised to the $5.00 minimum charge per period"
    );
    let mut large = march_with("disk", "GB", spec());
    large.usage("disk", "1000", "2026-03-05");
    assert_eq!(
        line(&large.invoice(MARCH), "usage:disk:p")
            .amount
            .to_string(),
        "10.00"
    );
}

#[test]
fn minimum_m2_usage_that_was_all_free_owes_no_minimum() {
    let spec = || with_minimum(with_allowance(per_unit("0.01"), "100"), "5");
    let mut free = march_with("disk", "GB", spec());
    free.usage("disk", "50", "2026-03-05");
    assert_eq!(
        line(&free.invoice(MARCH), "usage:disk:p")
            .amount
            .to_string(),
        "0.00"
    );
    let mut one = march_with("disk", "GB", spec());
    one.usage("disk", "101", "2026-03-05");
    assert_eq!(
        line(&one.invoice(MARCH), "usage:disk:p").amount.to_string(),
        "5.00"
    );
}

#[test]
fn minimum_m3_one_minimum_per_meter_and_period_across_a_price_change() {
    let mut h = History::with_org(MARCH);
    h.price_named(
        "a",
        "disk",
        "GB",
        "Disk",
        with_minimum(per_unit("0.01"), "5"),
        "2026-01-01",
    );
    h.price_named(
        "b",
        "disk",
        "GB",
        "Disk",
        with_minimum(per_unit("0.02"), "3"),
        "2026-03-16",
    );
    h.usage("disk", "100", "2026-03-10");
    h.usage("disk", "50", "2026-03-20");
    let invoice = h.invoice(MARCH);
    // a: 1.00, b: 1.00; sum 2.00 < 5.00 (the larger minimum, a's): a + 3.00.
    assert_eq!(
        amounts(&invoice),
        ids_and_amounts(&[("usage:disk:a", "4.00"), ("usage:disk:b", "1.00")])
    );
    assert_eq!(invoice.total.to_string(), "5.00");
    assert_eq!(
        line(&invoice, "usage:disk:a").description,
        "Disk: 100 GB × $0.01 per GB = $1.00, plus $3.00 to reach the $5.00 minimum charge per period \
         for this meter (its other lines this period come to $1.00)"
    );
}

// § Proration

#[test]
fn proration_pr1_a_mid_period_start_bills_its_whole_first_day() {
    let mut h = History::with_org(MARCH);
    h.subscribe("sub_1", "pro", "20", "2026-03-10T15:00:00Z");
    let fee = line(&h.invoice(MARCH), "fee:sub_1:2026-03-10").clone();
    // Mar 10–31: 22 of 31 days; 20 × 22 / 31 = 14.193548… → 14.19
    assert_eq!(
        (fee.quantity, fee.amount.to_string()),
        (d("22"), "14.19".to_owned())
    );
}

#[test]
fn proration_pr2_a_change_bills_its_day_at_the_new_fee_and_the_cancellation_day_is_not_billed() {
    let mut h = History::with_org(MARCH);
    h.subscribe("sub_1", "pro", "31", "2026-03-10");
    h.change_plan("sub_1", "team", "62", "2026-03-20T08:00:00Z");
    h.cancel("sub_1", "2026-03-25T18:00:00Z");
    let invoice = h.invoice(MARCH);
    // Mar 10–19: 31 × 10/31 = 10.00; Mar 20–24: 62 × 5/31 = 10.00.
    assert_eq!(
        amounts(&invoice),
        ids_and_amounts(&[
            ("fee:sub_1:2026-03-10", "10.00"),
            ("fee:sub_1:2026-03-20", "10.00")
        ])
    );
}

#[test]
fn proration_pr3_a_start_and_cancellation_on_the_same_day_bill_nothing() {
    let mut h = History::with_org(MARCH);
    h.subscribe("sub_1", "pro", "31", "2026-03-10T08:00:00Z");
    h.cancel("sub_1", "2026-03-10T20:00:00Z");
    assert!(h.invoice(MARCH).lines.is_empty());
}

// § Late usage

#[test]
fn late_l1_usage_for_a_finalized_period_is_priced_at_the_margin() {
    let mut h = march_with(
        "cpu",
        "unit",
        graduated(&[(Some("100"), "0.10", None), (None, "0.05", None)]),
    );
    h.usage("cpu", "80", "2026-03-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    assert_eq!(h.invoice(MARCH).total.to_string(), "8.00");
    h.usage("cpu", "50", "2026-03-20");
    // price(130) − price(80) = 11.50 − 8.00
    assert_eq!(
        line(&h.invoice(APRIL), "late:2026-03-01:cpu:p")
            .amount
            .to_string(),
        "3.50"
    );
    h.finalize(APRIL, MAY, "2026-05-01T01:00:00Z");
    h.usage("cpu", "100", "2026-03-25");
    // price(230) − price(130) = 16.50 − 11.50
    assert_eq!(
        line(&h.invoice(MAY), "late:2026-03-01:cpu:p")
            .amount
            .to_string(),
        "5.00"
    );
    assert_eq!(h.invoice(MARCH).total.to_string(), "8.00");
}

// § Corrections and voids

#[test]
fn correction_k1_a_correction_in_the_open_period_replaces_the_quantity() {
    let mut h = march_with("cpu", "unit", per_unit("0.01"));
    let usage = h.usage("cpu", "100", "2026-03-05");
    h.correct(usage, "cpu", "2026-03-05", "100", "60", "2026-03-07");
    let cpu = line(&h.invoice(MARCH), "usage:cpu:p").clone();
    assert_eq!(
        (cpu.quantity, cpu.amount.to_string()),
        (d("60"), "0.60".to_owned())
    );
}

#[test]
fn correction_k2_a_void_after_finalization_refunds_next_period_and_carries_the_balance() {
    let mut h = march_with("cpu", "unit", per_unit("0.01"));
    let usage = h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    h.void(usage, "cpu", "2026-03-05", "100", "2026-04-02");
    let april = h.invoice(APRIL);
    assert_eq!(
        amounts(&april),
        ids_and_amounts(&[
            ("late:2026-03-01:cpu:p", "-1.00"),
            ("balance:carried-forward", "1.00")
        ])
    );
    assert_eq!(
        (
            april.subtotal.to_string(),
            april.total.to_string(),
            april.credit_remaining.to_string()
        ),
        ("-1.00".to_owned(), "0.00".to_owned(), "1.00".to_owned())
    );
    h.charge("ch_1", "5", "2026-05-03");
    h.finalize(APRIL, MAY, "2026-05-01T01:00:00Z");
    let may = h.invoice(MAY);
    assert_eq!(
        amounts(&may),
        ids_and_amounts(&[
            ("charge:ch_1", "5.00"),
            ("credit:balance:2026-04-01", "-1.00")
        ])
    );
    assert_eq!(may.total.to_string(), "4.00");
}

// § Credits

#[test]
fn credits_c1_carried_in_credits_apply_first_then_grants_in_order_each_capped() {
    let mut h = History::with_org(FEB);
    h.price("p", "cpu", per_unit("0.01"), "2026-01-01");
    h.credit("old", "5", "2026-02-10");
    h.finalize(FEB, MARCH, "2026-03-01T01:00:00Z");
    h.credit("a", "10", "2026-03-05");
    h.credit("b", "10", "2026-03-06");
    h.usage("cpu", "2000", "2026-03-07");
    let march = h.invoice(MARCH);
    assert_eq!(
        amounts(&march),
        ids_and_amounts(&[
            ("usage:cpu:p", "20.00"),
            ("credit:old", "-5.00"),
            ("credit:a", "-10.00"),
            ("credit:b", "-5.00")
        ])
    );
    assert_eq!(
        (
            march.credit_applied.to_string(),
            march.total.to_string(),
            march.credit_remaining.to_string()
        ),
        ("20.00".to_owned(), "0.00".to_owned(), "5.00".to_owned())
    );
    assert_eq!(
        line(&march, "credit:b").description,
        "Goodwill: $5.00 of $10.00 applied, $5.00 carries forward"
    );
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    h.usage("cpu", "100", "2026-04-02");
    let april = h.invoice(APRIL);
    assert_eq!(line(&april, "credit:b").amount.to_string(), "-1.00");
    assert_eq!(april.credit_remaining.to_string(), "4.00");
    assert_eq!(
        line(&april, "credit:b").kind,
        LineKind::Credit,
        "a carried credit keeps its id"
    );
}

#[test]
fn credits_c2_a_grant_is_rounded_to_the_minor_unit_when_granted() {
    let mut h = History::with_org(MARCH);
    h.charge("ch_1", "1", "2026-03-02");
    h.credit("tiny", "0.005", "2026-03-03");
    let invoice = h.invoice(MARCH);
    assert_eq!(line(&invoice, "credit:tiny").amount.to_string(), "-0.01");
    assert_eq!(invoice.total.to_string(), "0.99");
}
