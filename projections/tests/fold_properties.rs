//! Properties of the fold over random histories: totals are sums of their
//! lines and never negative, and however usage, corrections and voids
//! interleave with finalization, what a period bills across all invoices
//! (its own lines plus every late adjustment) is the price of its final
//! quantities, across a mid-period price change.

mod fold_support;

use fold_support::*;
use projections::pricing::{price, price_after};
use projections::{Books, LineKind};
use proptest::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

const PERIODS: [&str; 3] = ["2026-01-01", "2026-02-01", "2026-03-01"];
const ENDS: [&str; 3] = ["2026-02-01", "2026-03-01", "2026-04-01"];

#[derive(Debug, Clone)]
enum Op {
    Usage {
        period: usize,
        day: u32,
        quantity: u32,
    },
    Correct {
        pick: usize,
        quantity: u32,
    },
    Void {
        pick: usize,
    },
    Finalize {
        period: usize,
    },
    Charge {
        cents: u32,
    },
    Credit {
        cents: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 1..28u32, 0..3000u32).prop_map(|(period, day, quantity)| Op::Usage { period, day, quantity }),
        2 => (any::<usize>(), 0..3000u32).prop_map(|(pick, quantity)| Op::Correct { pick, quantity }),
        1 => any::<usize>().prop_map(|pick| Op::Void { pick }),
        1 => (0..3usize).prop_map(|period| Op::Finalize { period }),
        1 => (0..5000u32).prop_map(|cents| Op::Charge { cents }),
        1 => (0..5000u32).prop_map(|cents| Op::Credit { cents }),
    ]
}

const MINIMUM: &str = "2";
const MINIMUM_2: &str = "1.5";

/// The first price, without its minimum charge.
fn model() -> ledger::pricing::PriceSpec {
    let tiers = graduated(&[(Some("1000"), "0.013", Some("1")), (None, "0.0017", None)]);
    with_allowance(tiers, "100")
}

/// The price from mid-February on, without its minimum charge: volume
/// tiers, a larger allowance.
fn model_2() -> ledger::pricing::PriceSpec {
    let tiers = volume(&[(Some("500"), "0.02", None), (None, "0.011", Some("3"))]);
    with_allowance(tiers, "700")
}

fn spec() -> ledger::pricing::PriceSpec {
    with_minimum(model(), MINIMUM)
}

fn spec_2() -> ledger::pricing::PriceSpec {
    with_minimum(model_2(), MINIMUM_2)
}

/// What a period bills for (first, second) units under the two prices, by
/// the rules worked out by hand: the second price's allowance counts the
/// first segment's units; the minimum is the meter's, the largest among
/// segments with billable units, topped up on that segment.
fn expected_bill(first: Decimal, second: Decimal) -> Decimal {
    let one = price(&model(), first);
    let two = price_after(&model_2(), second, first);
    let mut amounts = [one.amount, two.amount];
    let candidates = [
        (one.billable_quantity > Decimal::ZERO).then(|| d(MINIMUM)),
        (two.billable_quantity > Decimal::ZERO).then(|| d(MINIMUM_2)),
    ];
    let governing = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.map(|m| (i, m)))
        .max_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    if let Some((i, minimum)) = governing {
        let total = amounts[0] + amounts[1];
        if total < minimum {
            amounts[i] += minimum - total;
        }
    }
    let usd = ledger::money::Currency::USD;
    usd.round(amounts[0]) + usd.round(amounts[1])
}

const SECOND_PRICE_FROM: &str = "2026-02-15";

/// A usage event still in force: (event id, period, day, current quantity).
type Live = Vec<(Uuid, usize, u32, u32)>;

/// The history, and each period's final quantity under (first, second) price.
fn history(ops: &[Op]) -> (History, [(u32, u32); 3]) {
    let mut h = History::with_org(PERIODS[0]);
    h.price("p", "cpu", spec(), "2025-01-01");
    h.price("p2", "cpu", spec_2(), SECOND_PRICE_FROM);
    let mut live: Live = Vec::new();
    let usage_at =
        |period: usize, day: u32| format!("{}{:02}T00:00:00Z", &PERIODS[period][..8], day);
    let now = "2026-06-01T00:00:00Z";
    for (n, op) in ops.iter().enumerate() {
        match op {
            Op::Usage {
                period,
                day,
                quantity,
            } => {
                let id = h.usage("cpu", &quantity.to_string(), &usage_at(*period, *day));
                live.push((id, *period, *day, *quantity));
            }
            Op::Correct { pick, quantity } if !live.is_empty() => {
                let i = pick % live.len();
                let (id, period, day, previous) = live[i];
                h.correct(
                    id,
                    "cpu",
                    &usage_at(period, day),
                    &previous.to_string(),
                    &quantity.to_string(),
                    now,
                );
                live[i].3 = *quantity;
            }
            Op::Void { pick } if !live.is_empty() => {
                let (id, period, day, previous) = live.remove(pick % live.len());
                h.void(
                    id,
                    "cpu",
                    &usage_at(period, day),
                    &previous.to_string(),
                    now,
                );
            }
            Op::Finalize { period } => h.finalize(PERIODS[*period], ENDS[*period], now),
            Op::Charge { cents } => {
                h.charge(
                    &format!("ch_{n}"),
                    &format!("{cents}e-2"),
                    &usage_at(n % 3, 10),
                );
            }
            Op::Credit { cents } => {
                h.credit(
                    &format!("cr_{n}"),
                    &format!("{cents}e-2"),
                    &usage_at(n % 3, 11),
                );
            }
            _ => {}
        }
    }
    let mut totals = [(0u32, 0u32); 3];
    for (_, period, day, quantity) in &live {
        if t(&usage_at(*period, *day)) < t(SECOND_PRICE_FROM) {
            totals[*period].0 += quantity;
        } else {
            totals[*period].1 += quantity;
        }
    }
    (h, totals)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn totals_are_sums_of_lines_and_never_negative(ops in prop::collection::vec(op(), 0..40)) {
        let (h, _) = history(&ops);
        for invoice in h.fold().invoices().unwrap() {
            let sum: Decimal = invoice.lines.iter().map(|l| l.amount).sum();
            prop_assert_eq!(invoice.total, sum);
            prop_assert!(invoice.total >= Decimal::ZERO);
            let mut ids: Vec<_> = invoice.lines.iter().map(|l| &l.line_id).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), invoice.lines.len());
        }
    }

    #[test]
    fn a_period_bills_the_price_of_its_final_quantity_across_late_adjustments(ops in prop::collection::vec(op(), 0..40)) {
        let (h, totals) = history(&ops);
        let books = h.fold();
        for (period, start) in PERIODS.iter().enumerate() {
            let start = t(start);
            let mut billed = Decimal::ZERO;
            let mut lines = 0i64;
            for invoice in books.invoices().unwrap() {
                for line in &invoice.lines {
                    let own = line.kind == LineKind::Usage && invoice.period_start == start;
                    let late = line.kind == LineKind::LateUsageAdjustment && line.adjusts_period_start == Some(start);
                    if own || late {
                        billed += line.amount;
                        lines += 1;
                    }
                }
            }
            let (first, second) = (Decimal::from(totals[period].0), Decimal::from(totals[period].1));
            let expected = expected_bill(first, second);
            // Each line is rounded once: at most half a cent off per line.
            let tolerance = Decimal::new(5, 3) * Decimal::from(lines.max(1));
            prop_assert!((billed - expected).abs() <= tolerance, "period {} billed {} expected {}", period, billed, expected);
        }
    }

    #[test]
    fn folding_resumed_from_serialised_books_equals_folding_in_one_go(
        ops in prop::collection::vec(op(), 0..30),
        split in any::<prop::sample::Index>(),
    ) {
        let (h, _) = history(&ops);
        let at = split.index(h.events.len() + 1);
        let mut first = Books::default();
        for event in &h.events[..at] {
            first.apply(event).unwrap();
        }
        let mut resumed: Books = serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
        for event in &h.events[at..] {
            resumed.apply(event).unwrap();
        }
        prop_assert_eq!(serde_json::to_string(&resumed).unwrap(), serde_json::to_string(&h.fold()).unwrap());
    }
}
