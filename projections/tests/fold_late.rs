//! Late usage, corrections and voids: a finalized invoice never changes;
//! what arrives for it later lands on the next open invoice, at its
//! marginal price.

mod fold_support;

use fold_support::*;
use projections::{InvoiceStatus, LineKind};
use rust_decimal::Decimal;

const MARCH: &str = "2026-03-01";
const APRIL: &str = "2026-04-01";
const MAY: &str = "2026-05-01";

fn with_price(spec: ledger::pricing::PriceSpec) -> History {
    let mut h = History::with_org(MARCH);
    h.price_named("p", "cpu", "second", "CPU time", spec, "2026-01-01");
    h
}

#[test]
fn late_usage_becomes_a_labelled_adjustment_on_the_next_invoice() {
    let mut h = with_price(per_unit("0.01"));
    h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    let march_at_close = h.invoice(MARCH);
    h.usage("cpu", "50", "2026-03-20"); // recorded late, position 5
    assert_eq!(h.invoice(MARCH), march_at_close);
    let april = h.invoice(APRIL);
    let late = line(&april, "late:2026-03-01:cpu:p");
    assert_eq!(late.kind, LineKind::LateUsageAdjustment);
    assert_eq!((late.quantity, late.amount), (d("50"), d("0.50")));
    assert_eq!(late.adjusts_period_start, Some(t(MARCH)));
    assert_eq!(
        late.description,
        "Late usage for 2026-03-01 – 2026-03-31, CPU time: +50 seconds (period total now 150 seconds), \
         priced at the margin of that period's $0.01 per second = $0.50"
    );
    let pricing = late.pricing.as_ref().unwrap();
    assert_eq!(
        (pricing.period_quantity, pricing.amount_unrounded),
        (Some(d("150")), d("0.5"))
    );
    assert_eq!(
        (late.source.after_position, late.source.up_to_position),
        (Some(4), Some(5))
    );
    assert_eq!(late.source.occurred_from, Some(t("2026-03-20")));
    assert_eq!(april.total, d("0.50"));
}

#[test]
fn late_usage_is_priced_at_the_margin_of_graduated_tiers() {
    let mut h = with_price(graduated(&[
        (Some("100"), "0.10", None),
        (None, "0.05", None),
    ]));
    h.usage("cpu", "80", "2026-03-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    assert_eq!(h.invoice(MARCH).total, d("8.00"));
    // price(130) − price(80) = (10 + 1.50) − 8 = 3.50
    h.usage("cpu", "50", "2026-03-20");
    let april = line(&h.invoice(APRIL), "late:2026-03-01:cpu:p").clone();
    assert_eq!(april.amount, d("3.50"));
    assert_eq!(
        april.description,
        "Late usage for 2026-03-01 – 2026-03-31, CPU time: +50 seconds (period total now 130 seconds), \
         priced at the margin of that period's graduated tiers = $3.50"
    );
    // April closes; more March usage goes to May: price(230) − price(130) = 16.50 − 11.50.
    h.finalize(APRIL, MAY, "2026-05-01T01:00:00Z");
    h.usage("cpu", "100", "2026-03-25");
    assert_eq!(
        line(&h.invoice(MAY), "late:2026-03-01:cpu:p").amount,
        d("5.00")
    );
    assert_eq!(h.invoice(APRIL).total, d("3.50"));
}

#[test]
fn late_usage_within_the_free_allowance_stays_free_up_to_it() {
    let mut h = with_price(with_allowance(per_unit("0.01"), "100"));
    h.usage("cpu", "80", "2026-03-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    h.usage("cpu", "50", "2026-03-20");
    assert_eq!(
        line(&h.invoice(APRIL), "late:2026-03-01:cpu:p").amount,
        d("0.30")
    );
}

#[test]
fn late_usage_goes_to_the_earliest_open_invoice_after_its_period() {
    let mut h = with_price(per_unit("0.01"));
    h.usage("cpu", "1", "2026-03-05");
    h.open(APRIL, MAY, "2026-04-01");
    h.open(MAY, "2026-06-01", "2026-05-01");
    h.finalize(MARCH, APRIL, "2026-05-01T01:00:00Z");
    h.usage("cpu", "100", "2026-03-20");
    assert_eq!(
        line(&h.invoice(APRIL), "late:2026-03-01:cpu:p").amount,
        d("1.00")
    );
    assert!(h.invoice(MAY).lines.is_empty());
}

#[test]
fn a_correction_in_the_open_period_replaces_the_quantity() {
    let mut h = with_price(per_unit("0.01"));
    let first = h.usage("cpu", "100", "2026-03-05");
    let second = h.usage("cpu", "30", "2026-03-06");
    h.correct(first, "cpu", "2026-03-05", "100", "60", "2026-03-07");
    let line_after_fix = line(&h.invoice(MARCH), "usage:cpu:p").clone();
    assert_eq!(
        (line_after_fix.quantity, line_after_fix.amount),
        (d("90"), d("0.90"))
    );
    h.void(second, "cpu", "2026-03-06", "30", "2026-03-08");
    let invoice = h.invoice(MARCH);
    assert_eq!(line(&invoice, "usage:cpu:p").quantity, d("60"));
    assert_eq!(invoice.version, 4);
}

#[test]
fn a_void_never_takes_an_aggregate_below_zero() {
    let mut h = with_price(per_unit("0.01"));
    let usage = h.usage("cpu", "30", "2026-03-05");
    h.void(usage, "cpu", "2026-03-05", "100", "2026-03-06"); // claims more than there is
    let cpu = line(&h.invoice(MARCH), "usage:cpu:p").clone();
    assert_eq!((cpu.quantity, cpu.amount), (Decimal::ZERO, d("0.00")));
    h.usage("cpu", "10", "2026-03-07");
    assert_eq!(line(&h.invoice(MARCH), "usage:cpu:p").quantity, d("10"));
}

#[test]
fn a_correction_after_finalization_refunds_on_the_next_invoice_and_carries_a_negative_balance() {
    let mut h = with_price(per_unit("0.01"));
    let usage = h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    h.correct(usage, "cpu", "2026-03-05", "100", "40", "2026-04-02");
    let april = h.invoice(APRIL);
    let late = line(&april, "late:2026-03-01:cpu:p");
    assert_eq!((late.quantity, late.amount), (d("-60"), d("-0.60")));
    // A negative subtotal is brought to zero and carried forward.
    let balance = line(&april, "balance:carried-forward");
    assert_eq!(
        (balance.kind, balance.amount),
        (LineKind::BalanceCarriedForward, d("0.60"))
    );
    assert_eq!(balance.source.up_to_position, Some(0)); // derived: no events of its own
    assert_eq!(
        (april.subtotal, april.total, april.credit_remaining),
        (d("-0.60"), d("0.00"), d("0.60"))
    );

    h.charge("ch_1", "5", "2026-05-03");
    h.finalize(APRIL, MAY, "2026-05-01T01:00:00Z");
    let may = h.invoice(MAY);
    assert_eq!(line(&may, "credit:balance:2026-04-01").amount, d("-0.60"));
    assert_eq!(may.total, d("4.40"));
}

#[test]
fn a_void_after_finalization_at_graduated_prices_refunds_the_marginal_amount() {
    let mut h = with_price(graduated(&[
        (Some("100"), "0.10", None),
        (None, "0.05", None),
    ]));
    h.usage("cpu", "100", "2026-03-05");
    let extra = h.usage("cpu", "50", "2026-03-06");
    h.charge("ch_1", "10", "2026-04-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    assert_eq!(h.invoice(MARCH).total, d("12.50"));
    h.void(extra, "cpu", "2026-03-06", "50", "2026-04-06");
    // price(100) − price(150) = 10 − 12.50
    let april = h.invoice(APRIL);
    assert_eq!(line(&april, "late:2026-03-01:cpu:p").amount, d("-2.50"));
    assert_eq!(april.total, d("7.50"));
}

#[test]
fn a_charge_dated_in_a_closed_period_is_a_late_charge_on_the_next_invoice() {
    let mut h = with_price(per_unit("0.01"));
    h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    h.charge("ch_1", "12", "2026-03-10");
    let march = h.invoice(MARCH);
    assert_eq!(
        (march.status, march.total),
        (InvoiceStatus::Finalized, d("1.00"))
    );
    let charge = line(&h.invoice(APRIL), "charge:ch_1").clone();
    assert_eq!(
        (charge.kind, charge.amount, charge.adjusts_period_start),
        (LineKind::LateCharge, d("12.00"), Some(t(MARCH)))
    );
}

#[test]
fn a_paid_invoice_is_closed_too() {
    let mut h = with_price(per_unit("0.01"));
    h.usage("cpu", "100", "2026-03-05");
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    h.paid(MARCH, "2026-04-02");
    h.usage("cpu", "100", "2026-03-05");
    assert_eq!(h.invoice(MARCH).total, d("1.00"));
    assert_eq!(h.invoice(APRIL).total, d("1.00"));
}
