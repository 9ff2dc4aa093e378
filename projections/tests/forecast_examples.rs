//! Every worked example of docs/pricing.md § 15 (Forecast), computed by
//! the fold: the doc and these tests state the same numbers.

mod fold_support;

use fold_support::*;
use projections::Forecast;

const APRIL: &str = "2026-04-01";

/// An org anchored on April 1st (a 30-day period) with one price for `cpu`.
fn april_with(spec: ledger::pricing::PriceSpec) -> History {
    let mut h = History::with_org(APRIL);
    h.price_named("p", "cpu", "second", "Example", spec, "2026-01-01");
    h
}

fn forecast(h: &History, as_of: &str) -> Forecast {
    h.fold()
        .orgs
        .get(&org_id())
        .expect("the org is folded")
        .forecast(t(APRIL), t(as_of))
        .unwrap()
        .expect("the invoice exists")
}

#[test]
fn forecast_f1_per_unit_usage_is_extrapolated_at_its_run_rate() {
    let mut h = april_with(per_unit("0.01"));
    h.usage("cpu", "1000", "2026-04-05");
    let f = forecast(&h, "2026-04-11");
    // 10 of 30 days: 1,000 × 30 / 10 = 3,000 units × $0.01.
    assert_eq!(f.meters[0].projected_quantity, d("3000"));
    assert_eq!(f.total.to_string(), "30.00");
    assert_eq!(h.invoice(APRIL).total.to_string(), "10.00");
}

#[test]
fn forecast_f2_graduated_tiers_price_the_projected_quantity_not_a_scaled_amount() {
    let mut h = april_with(graduated(&[
        (Some("1000"), "0.10", None),
        (None, "0.05", None),
    ]));
    h.usage("cpu", "600", "2026-04-05");
    let f = forecast(&h, "2026-04-11");
    // 1,800 units: 1,000 × 0.10 + 800 × 0.05 = 140.00 (not 3 × 60.00).
    assert_eq!(f.meters[0].projected_quantity, d("1800"));
    assert_eq!(f.total.to_string(), "140.00");
}

#[test]
fn forecast_f3_allowance_and_minimum_apply_to_the_projected_quantity() {
    let mut h = april_with(with_minimum(
        with_allowance(per_unit("0.02"), "500"),
        "5.00",
    ));
    h.usage("cpu", "200", "2026-04-05");
    // So far all free: 0.00. Projected 600: 100 billable × 0.02 = 2.00,
    // raised to the 5.00 minimum.
    assert_eq!(h.invoice(APRIL).total.to_string(), "0.00");
    assert_eq!(forecast(&h, "2026-04-11").total.to_string(), "5.00");
}

#[test]
fn forecast_f4_scheduled_fee_changes_are_billed_as_the_invoice_will() {
    let mut h = april_with(per_unit("0.01"));
    h.subscribe("s", "basic", "30.00", APRIL);
    h.change_plan("s", "pro", "60.00", "2026-04-21");
    h.usage("cpu", "1000", "2026-04-05");
    // Fees: 20 days × 30 / 30 + 10 days × 60 / 30 = 40.00 (as the invoice
    // already bills them); usage 3,000 × 0.01 = 30.00.
    assert_eq!(h.invoice(APRIL).total.to_string(), "50.00");
    assert_eq!(forecast(&h, "2026-04-11").total.to_string(), "70.00");
}

#[test]
fn forecast_f5_the_run_rate_is_measured_over_at_least_one_day() {
    let mut h = april_with(per_unit("0.01"));
    h.usage("cpu", "100", "2026-04-01T06:00:00Z");
    let f = forecast(&h, "2026-04-01T12:00:00Z");
    // Half a day elapsed counts as one: 100 × 30 = 3,000.
    assert_eq!(f.meters[0].projected_quantity, d("3000"));
    assert_eq!(f.total.to_string(), "30.00");
}

#[test]
fn forecast_f6_projected_quantities_are_rounded_to_six_places() {
    let mut h = april_with(per_unit("1"));
    h.usage("cpu", "1", "2026-04-05");
    // 7 of 30 days: 1 × 30 / 7 = 4.285714285… → 4.285714.
    let f = forecast(&h, "2026-04-08");
    assert_eq!(f.meters[0].projected_quantity, d("4.285714"));
    assert_eq!(f.total.to_string(), "4.29");
}

#[test]
fn forecast_f7_a_closed_invoice_forecasts_its_total_and_the_period_end_is_the_invoice() {
    let mut h = april_with(per_unit("0.01"));
    h.usage("cpu", "1000", "2026-04-05");
    assert_eq!(forecast(&h, "2026-05-01").total.to_string(), "10.00");
    h.finalize(APRIL, "2026-05-01", "2026-05-01T01:00:00Z");
    assert_eq!(forecast(&h, "2026-04-11").total.to_string(), "10.00");
}
