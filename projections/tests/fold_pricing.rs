//! Hand-computed prices for every pricing model, unrounded.

mod fold_support;

use fold_support::*;
use ledger::money::Currency;
use projections::pricing::{price, price_after};
use rust_decimal::Decimal;

#[test]
fn per_unit_multiplies_quantity_by_unit_price() {
    let priced = price(&per_unit("0.02"), d("1000"));
    assert_eq!(priced.amount, d("20"));
    assert_eq!(priced.billable_quantity, d("1000"));
}

#[test]
fn graduated_prices_each_tier_like_tax_brackets_with_flat_fees() {
    // 100 × 0.10 + 5 flat = 15; 900 × 0.05 = 45; 500 × 0.01 + 1 flat = 6.
    let spec = graduated(&[
        (Some("100"), "0.10", Some("5")),
        (Some("1000"), "0.05", None),
        (None, "0.01", Some("1")),
    ]);
    let priced = price(&spec, d("1500"));
    assert_eq!(priced.amount, d("66"));
    let per_tier: Vec<_> = priced
        .breakdown
        .iter()
        .map(|t| (t.quantity, t.amount))
        .collect();
    assert_eq!(
        per_tier,
        vec![(d("100"), d("15")), (d("900"), d("45")), (d("500"), d("6"))]
    );
}

#[test]
fn graduated_charges_a_tiers_flat_fee_only_when_a_unit_lands_in_it() {
    let spec = graduated(&[(Some("100"), "0.10", Some("5")), (None, "0.05", Some("7"))]);
    assert_eq!(price(&spec, d("100")).amount, d("15"));
    assert_eq!(price(&spec, d("100.5")).amount, d("22.025"));
    let nothing = price(&spec, Decimal::ZERO);
    assert_eq!(nothing.amount, Decimal::ZERO);
    assert!(nothing.breakdown.is_empty());
}

#[test]
fn volume_prices_every_unit_at_the_tier_the_total_reaches() {
    let spec = volume(&[
        (Some("100"), "0.10", None),
        (Some("1000"), "0.05", Some("2")),
        (None, "0.01", None),
    ]);
    // A quantity on a bound belongs to that tier (`up_to` is inclusive).
    assert_eq!(price(&spec, d("100")).amount, d("10"));
    assert_eq!(price(&spec, d("101")).amount, d("7.05"));
    assert_eq!(price(&spec, d("5000")).amount, d("50"));
    assert_eq!(price(&spec, d("5000")).breakdown[0].tier, 3);
}

#[test]
fn free_allowance_is_deducted_before_the_model() {
    let spec = with_allowance(per_unit("0.5"), "100");
    let priced = price(&spec, d("250"));
    assert_eq!(
        (
            priced.free_quantity,
            priced.billable_quantity,
            priced.amount
        ),
        (d("100"), d("150"), d("75"))
    );
    let within = price(&spec, d("80"));
    assert_eq!(
        (within.free_quantity, within.amount),
        (d("80"), Decimal::ZERO)
    );
}

#[test]
fn tiers_count_the_quantity_after_the_allowance() {
    let spec = with_allowance(
        graduated(&[(Some("100"), "1", None), (None, "0.5", None)]),
        "50",
    );
    // 250 used, 50 free: 100 × 1 + 100 × 0.5.
    assert_eq!(price(&spec, d("250")).amount, d("150"));
}

#[test]
fn earlier_usage_in_the_period_consumes_a_later_segments_allowance() {
    let spec = with_allowance(per_unit("0.5"), "100");
    let priced = price_after(&spec, d("100"), d("60"));
    assert_eq!((priced.free_quantity, priced.amount), (d("40"), d("30")));
    assert_eq!(price_after(&spec, d("10"), d("500")).amount, d("5"));
}

#[test]
fn minimum_charge_raises_the_amount_when_the_meter_was_used() {
    let spec = with_minimum(per_unit("0.01"), "5");
    let small = price(&spec, d("100"));
    assert_eq!(
        (small.amount, small.minimum_applied),
        (d("5"), Some(d("5")))
    );
    assert_eq!(price(&spec, d("1000")).minimum_applied, None);
    assert_eq!(price(&spec, d("1000")).amount, d("10"));
    assert_eq!(price(&spec, Decimal::ZERO).amount, Decimal::ZERO);
}

#[test]
fn no_minimum_charge_is_owed_when_all_usage_was_free() {
    let spec = with_minimum(with_allowance(per_unit("0.01"), "100"), "5");
    let free = price(&spec, d("50"));
    assert_eq!((free.amount, free.minimum_applied), (d("0"), None));
    // One billable unit: the minimum applies.
    let one = price(&spec, d("101"));
    assert_eq!((one.amount, one.minimum_top_up), (d("5"), d("4.99")));
}

#[test]
fn a_tiny_unit_price_over_a_month_of_seconds_stays_exact_until_rounded() {
    // 0.0000022 $/s × 2,592,000 s (30 days) = 5.7024, rounded once: 5.70.
    let priced = price(&per_unit("0.0000022"), d("2592000"));
    assert_eq!(priced.amount, d("5.7024"));
    assert_eq!(Currency::USD.round(priced.amount), d("5.70"));
}

#[test]
fn huge_quantities_keep_full_precision_or_saturate_without_panicking() {
    let max_record = price(&per_unit("0.000000000001"), d("1000000000000000"));
    assert_eq!(max_record.amount, d("1000"));
    let large = price(&per_unit("1000000000"), d("1000000000000000"));
    assert_eq!(
        (large.amount, large.saturated),
        (d("1000000000000000000000000"), false)
    );
    let beyond = price(&per_unit("1000000000"), d("10000000000000000000000"));
    assert!(beyond.saturated);
    assert_eq!(beyond.amount, Decimal::MAX);
}

#[test]
fn rounding_is_half_away_from_zero_and_happens_once() {
    assert_eq!(
        Currency::USD.round(price(&per_unit("0.125"), d("1")).amount),
        d("0.13")
    );
    // 3 × 0.0015 = 0.0045 → 0.00; rounding in two steps would give 0.01.
    assert_eq!(
        Currency::USD.round(price(&per_unit("0.0015"), d("3")).amount),
        d("0.00")
    );
    assert_eq!(
        Currency::USD.round(d("999999999999.995")),
        d("1000000000000.00")
    );
}
