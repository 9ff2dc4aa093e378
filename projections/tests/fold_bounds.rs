//! No amount on an invoice leaves ±10^12 (`ledger::money::MAX_AMOUNT`), and
//! every amount carries exactly its currency's minor-unit places. An
//! invoice that would exceed the bound is refused with an error naming the
//! organization, the invoice and the line; it is never clamped.

mod fold_support;

use fold_support::*;
use ledger::event::{ChargeAdded, CreditGranted, OrganizationCreated, UsageRecorded};
use ledger::{LedgerEvent, OrgId};
use projections::{FoldError, LINE_DESCRIPTION_MAX};

const MARCH: &str = "2026-03-01";
const APRIL: &str = "2026-04-01";

fn largest_records(h: &mut History, count: usize) {
    for i in 0..count {
        let at = format!("2026-03-{:02}T{:02}:00:00Z", 2 + i % 25, i % 24);
        h.usage("cpu", "1000000000000000", &at);
    }
}

fn other_org(h: &mut History) -> OrgId {
    let org = OrgId::new("globex").unwrap();
    h.push(
        LedgerEvent::OrganizationCreated(OrganizationCreated {
            org_id: org.clone(),
            name: "Globex".into(),
            currency: "USD".parse().unwrap(),
            billing_anchor: t(MARCH),
            stripe_customer_id: None,
        }),
        MARCH,
    );
    h.push(
        LedgerEvent::UsageRecorded(UsageRecorded {
            org_id: org.clone(),
            meter: "cpu".into(),
            quantity: "3".parse().unwrap(),
            window: None,
            source: "test".into(),
            attributes: Default::default(),
        }),
        "2026-03-05",
    );
    org
}

fn out_of_range(error: FoldError) -> (String, Option<String>, &'static str) {
    match error {
        FoldError::AmountOutOfRange {
            org_id,
            period_start,
            line_id,
            field,
            ..
        } => {
            assert_eq!(period_start, t(MARCH));
            (org_id.as_str().to_owned(), line_id, field)
        }
        other => panic!("expected AmountOutOfRange, got {other}"),
    }
}

#[test]
fn three_thousand_records_at_the_largest_quantity_and_unit_price_are_refused_naming_the_line() {
    let mut h = History::with_org(MARCH);
    h.price("p", "cpu", per_unit("1000000000"), "2026-01-01");
    largest_records(&mut h, 3000);
    let books = h.fold();
    let error = books.invoice(&key(MARCH)).unwrap_err();
    let message = error.to_string();
    assert_eq!(
        out_of_range(error),
        ("acme".to_owned(), Some("usage:cpu:p".to_owned()), "amount")
    );
    assert!(
        message.starts_with(
            "organization `acme`, invoice for the period from 2026-03-01 00:00:00 UTC: \
             line `usage:cpu:p` amount 3000000000000000000000000000"
        ),
        "{message}"
    );
    assert!(books.invoices().is_err());
}

#[test]
fn an_organization_out_of_range_leaves_every_other_organizations_invoice_as_it_is() {
    let mut h = History::with_org(MARCH);
    h.price("p", "cpu", per_unit("1000000000"), "2026-01-01");
    largest_records(&mut h, 2);
    let globex = other_org(&mut h);
    let books = h.fold();
    assert!(books.invoice(&key(MARCH)).is_err());
    let theirs = books
        .orgs
        .get(&globex)
        .unwrap()
        .invoice(t(MARCH))
        .unwrap()
        .unwrap();
    assert_eq!(theirs.total.to_string(), "3000000000.00");
}

#[test]
fn finalizing_an_invoice_out_of_range_is_an_error_naming_the_organization() {
    let mut h = History::with_org(MARCH);
    h.price("p", "cpu", per_unit("1000000000"), "2026-01-01");
    largest_records(&mut h, 2);
    h.finalize(MARCH, APRIL, "2026-04-01T01:00:00Z");
    let (finalize, before) = h.events.split_last().unwrap();
    let mut books = projections::Books::default();
    for event in before {
        books.apply(event).unwrap();
    }
    let error = books.apply(finalize).unwrap_err();
    assert_eq!(error.org_id().map(OrgId::as_str), Some("acme"));
    assert_eq!(
        out_of_range(error),
        ("acme".to_owned(), Some("usage:cpu:p".to_owned()), "amount")
    );
}

#[test]
fn lines_within_the_bound_whose_sum_is_beyond_it_are_refused_at_the_subtotal() {
    let mut h = History::with_org(MARCH);
    h.charge("big_1", "600000000000", "2026-03-02");
    h.charge("big_2", "600000000000", "2026-03-03");
    let error = h.fold().invoice(&key(MARCH)).unwrap_err();
    assert_eq!(out_of_range(error), ("acme".to_owned(), None, "subtotal"));
}

#[test]
fn an_amount_exactly_at_the_bound_is_billed_to_the_cent() {
    let mut h = History::with_org(MARCH);
    h.price("p", "cpu", per_unit("1000"), "2026-01-01");
    h.usage("cpu", "1000000000", "2026-03-02");
    let invoice = h.invoice(MARCH);
    assert_eq!(invoice.total.to_string(), "1000000000000.00");
}

#[test]
fn every_amount_carries_exactly_the_currencys_minor_unit_places() {
    let mut h = History::with_org(MARCH);
    h.price("p", "cpu", per_unit("2"), "2026-01-01");
    h.usage("cpu", "10", "2026-03-02");
    h.credit("welcome", "5", "2026-03-03");
    let json = serde_json::to_value(h.invoice(MARCH)).unwrap();
    assert_eq!(json["lines"][0]["amount"], "20.00");
    assert_eq!(json["lines"][1]["amount"], "-5.00");
    assert_eq!(json["subtotal"], "20.00");
    assert_eq!(json["credit_applied"], "5.00");
    assert_eq!(json["total"], "15.00");
    assert_eq!(json["credit_remaining"], "0.00");

    let mut yen = History::with_org_in(MARCH, "JPY");
    yen.price_in("JPY", "p", "cpu", per_unit("2"), "2026-01-01");
    yen.usage("cpu", "10.2", "2026-03-02");
    let json = serde_json::to_value(yen.invoice(MARCH)).unwrap();
    assert_eq!(json["lines"][0]["amount"], "20");
    assert_eq!(json["total"], "20");

    let empty = History::with_org(MARCH);
    let mut empty = empty;
    empty.open(MARCH, APRIL, "2026-03-01");
    let json = serde_json::to_value(empty.invoice(MARCH)).unwrap();
    assert_eq!(
        (&json["subtotal"], &json["total"]),
        (&"0.00".into(), &"0.00".into())
    );
}

#[test]
fn a_line_description_never_exceeds_stripes_limit() {
    let mut h = History::with_org(MARCH);
    let long = "x".repeat(10_000);
    h.price_named("p", "cpu", &long, &long, per_unit("1"), "2026-01-01");
    h.usage("cpu", "2", "2026-03-02");
    h.push(
        LedgerEvent::ChargeAdded(ChargeAdded {
            org_id: org_id(),
            charge_id: "long".into(),
            description: "y".repeat(LINE_DESCRIPTION_MAX * 2),
            amount: "1".parse().unwrap(),
        }),
        "2026-03-03",
    );
    h.push(
        LedgerEvent::CreditGranted(CreditGranted {
            org_id: org_id(),
            credit_id: "long".into(),
            description: "z".repeat(LINE_DESCRIPTION_MAX),
            amount: "1".parse().unwrap(),
        }),
        "2026-03-04",
    );
    let invoice = h.invoice(MARCH);
    let credit = line(&invoice, "credit:long");
    assert_eq!(credit.description.chars().count(), LINE_DESCRIPTION_MAX);
    let usage = line(&invoice, "usage:cpu:p");
    // The price's description is cut to 200 characters, the unit to 40.
    assert!(usage
        .description
        .starts_with(&format!("{}…: 2 ", "x".repeat(199))));
    assert!(usage.description.contains(&format!(" {}…", "x".repeat(39))));
    let charge = line(&invoice, "charge:long");
    assert_eq!(charge.description.chars().count(), LINE_DESCRIPTION_MAX);
    assert!(charge.description.ends_with('…'));
}
