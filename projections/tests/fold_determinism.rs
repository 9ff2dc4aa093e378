//! The fold is a pure function: same events, same bytes — however the
//! folding is split, stopped, serialised and resumed.

mod fold_support;

use fold_support::*;
use projections::fold::{Books, OrgBook};
use projections::Catalog;

/// Three months of everything the fold knows about.
fn rich_history() -> History {
    let mut h = History::with_org("2026-01-31");
    let tiers = graduated(&[
        (Some("1000"), "0.0000022", Some("0.5")),
        (None, "0.000001", None),
    ]);
    h.price("cpu_a", "cpu", with_allowance(tiers, "500"), "2026-01-01");
    h.price(
        "disk",
        "disk",
        with_minimum(per_unit("0.125"), "1"),
        "2026-01-01",
    );
    h.price(
        "egress",
        "egress",
        volume(&[(Some("10"), "0.09", None), (None, "0.05", Some("1"))]),
        "2026-01-01",
    );
    h.subscribe("sub_1", "pro", "20", "2026-02-03T10:00:00Z");
    let a = h.usage("cpu", "2592000", "2026-02-04");
    h.usage("disk", "3", "2026-02-05");
    h.usage("egress", "12.5", "2026-02-06");
    h.price("cpu_b", "cpu", per_unit("0.0000030"), "2026-02-15");
    h.usage("cpu", "1000.123456789012", "2026-02-20");
    h.correct(a, "cpu", "2026-02-04", "2592000", "2000000", "2026-02-21");
    h.charge("ch_1", "10.005", "2026-02-22");
    h.credit("cr_1", "50", "2026-02-23");
    h.change_plan("sub_1", "team", "45", "2026-02-25T00:00:00Z");
    h.open("2026-02-28", "2026-03-31", "2026-02-28");
    h.usage("cpu", "5", "2026-02-28T00:00:01Z");
    h.finalize("2026-01-31", "2026-02-28", "2026-02-28T01:00:00Z");
    h.published("2026-01-31", 9, "2026-02-28T02:00:00Z");
    h.usage("cpu", "1000", "2026-02-10"); // late
    h.void(a, "cpu", "2026-02-04", "2000000", "2026-03-02"); // late void
    h.payment_failed("2026-01-31", "card_declined", "2026-03-03");
    h.paid("2026-01-31", "2026-03-04");
    h.cancel("sub_1", "2026-03-15T12:00:00Z");
    h.usage("gpu", "7", "2026-03-16");
    h.finalize("2026-02-28", "2026-03-31", "2026-03-31T01:00:00Z");
    h.usage("egress", "100", "2026-03-20"); // late, lands on a new April invoice
    h
}

/// The serialised books and invoices (strings, so a failure is readable).
fn bytes(books: &Books) -> (String, String) {
    (
        serde_json::to_string(books).unwrap(),
        serde_json::to_string(&books.invoices().unwrap()).unwrap(),
    )
}

#[test]
fn the_same_events_give_byte_identical_books_and_invoices() {
    let h = rich_history();
    assert_eq!(bytes(&h.fold()), bytes(&h.fold()));
    let invoices = h.fold().invoices().unwrap();
    assert_eq!(invoices.len(), 3);
    assert!(invoices
        .iter()
        .all(|i| i.total >= rust_decimal::Decimal::ZERO));
}

#[test]
fn folding_split_anywhere_with_a_serde_round_trip_equals_folding_in_one_go() {
    let h = rich_history();
    let expected = bytes(&h.fold());
    for split in 0..=h.events.len() {
        let mut first = Books::default();
        for event in &h.events[..split] {
            first.apply(event).unwrap();
        }
        // What the runner persists: the catalog and one JSON document per org.
        let catalog: Catalog =
            serde_json::from_str(&serde_json::to_string(&first.catalog).unwrap()).unwrap();
        let mut resumed = Books {
            catalog,
            ignored: first.ignored.clone(),
            last_position: first.last_position,
            orgs: Default::default(),
        };
        for (org, book) in &first.orgs {
            let restored: OrgBook =
                serde_json::from_str(&serde_json::to_string(book).unwrap()).unwrap();
            resumed.orgs.insert(org.clone(), restored);
        }
        for event in &h.events[split..] {
            resumed.apply(event).unwrap();
        }
        assert_eq!(bytes(&resumed), expected, "split at {split}");
    }
}

#[test]
fn refolding_events_already_reflected_changes_nothing() {
    let h = rich_history();
    let mut books = h.fold();
    let before = bytes(&books);
    for event in &h.events {
        let changed = books.apply(event).unwrap();
        assert!(
            changed.is_empty(),
            "position {} changed {changed:?}",
            event.global_position
        );
    }
    assert_eq!(bytes(&books), before);
}

#[test]
fn versions_only_grow_and_positions_never_pass_the_last_event() {
    let h = rich_history();
    let mut books = Books::default();
    let mut last = std::collections::BTreeMap::new();
    for event in &h.events {
        for key in books.apply(event).unwrap() {
            let invoice = books.invoice(&key).unwrap().unwrap();
            assert_eq!(invoice.position, event.global_position);
            let previous = last.insert(key, invoice.version).unwrap_or(0);
            assert_eq!(invoice.version, previous + 1);
        }
    }
}
