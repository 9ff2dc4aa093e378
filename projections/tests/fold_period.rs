//! Billing-period arithmetic: anchors on the 31st, leap years, year ends.

mod fold_support;

use fold_support::t;
use projections::period::{next_period, period_containing, Period};

fn period(start: &str, end: &str) -> Period {
    Period {
        start: t(start),
        end: t(end),
    }
}

#[test]
fn an_anchor_on_the_31st_clamps_to_each_months_end() {
    let anchor = t("2026-01-31T09:30:00Z");
    assert_eq!(
        period_containing(anchor, t("2026-02-27T23:59:59Z")),
        period("2026-01-31", "2026-02-28")
    );
    assert_eq!(
        period_containing(anchor, t("2026-02-28")),
        period("2026-02-28", "2026-03-31")
    );
    assert_eq!(
        period_containing(anchor, t("2026-04-30T12:00:00Z")),
        period("2026-04-30", "2026-05-31")
    );
}

#[test]
fn consecutive_periods_never_drift_from_the_anchor_day() {
    let anchor = t("2026-01-31");
    let mut p = period_containing(anchor, anchor);
    let mut starts = Vec::new();
    for _ in 0..13 {
        starts.push(p.start.format("%m-%d").to_string());
        p = next_period(anchor, &p);
    }
    let expected = [
        "01-31", "02-28", "03-31", "04-30", "05-31", "06-30", "07-31", "08-31", "09-30", "10-31",
        "11-30", "12-31", "01-31",
    ];
    assert_eq!(starts, expected);
}

#[test]
fn leap_years_give_february_its_29th() {
    let anchor = t("2024-01-31");
    assert_eq!(
        period_containing(anchor, t("2024-03-01")),
        period("2024-02-29", "2024-03-31")
    );
    let leap_day = t("2024-02-29");
    assert_eq!(
        period_containing(leap_day, t("2025-03-01")),
        period("2025-02-28", "2025-03-29")
    );
    assert_eq!(
        period_containing(leap_day, t("2028-03-01")),
        period("2028-02-29", "2028-03-29")
    );
    assert_eq!(period("2024-02-01", "2024-03-01").days(), 29);
}

#[test]
fn periods_cross_year_ends_and_exist_before_the_anchor() {
    let anchor = t("2026-12-15");
    assert_eq!(
        period_containing(anchor, t("2027-01-03")),
        period("2026-12-15", "2027-01-15")
    );
    assert_eq!(
        period_containing(anchor, t("2026-01-20")),
        period("2026-01-15", "2026-02-15")
    );
}

#[test]
fn a_period_is_half_open() {
    let anchor = t("2026-03-01");
    let march = period_containing(anchor, t("2026-03-01"));
    assert!(march.contains(t("2026-03-31T23:59:59.999999Z")));
    assert!(!march.contains(t("2026-04-01")));
    assert_eq!(
        period_containing(anchor, t("2026-04-01")).start,
        t("2026-04-01")
    );
}
