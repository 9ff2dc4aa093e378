//! Usage aggregation per (period, meter, price), corrections, voids and late
//! usage for closed periods.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ledger::event::PriceSet;
use ledger::pricing::PriceSpec;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::book::{Changed, OrgBook};
use super::catalog::Catalog;
use crate::period::Period;
use crate::pricing::{price_period, Priced};

/// The catalog entry a segment of usage is priced with (copied, so a book
/// renders without the catalog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PriceRef {
    pub price_id: String,
    pub effective_from: DateTime<Utc>,
    pub unit: String,
    pub description: String,
    pub spec: PriceSpec,
}

impl PriceRef {
    fn of(price: &PriceSet) -> Self {
        Self {
            price_id: price.price_id.clone(),
            effective_from: price.effective_from,
            unit: price.unit.clone(),
            description: price.description.clone(),
            spec: price.spec.clone(),
        }
    }
}

/// Segments order by price: no price first, then by `effective_from`
/// (chronological, which is the order the allowance is consumed in).
fn key(price: &Option<PriceRef>) -> Option<(DateTime<Utc>, &str)> {
    price
        .as_ref()
        .map(|p| (p.effective_from, p.price_id.as_str()))
}

/// One meter's usage in a period under one price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Segment {
    pub price: Option<PriceRef>,
    pub quantity: Decimal,
    pub first_occurred: DateTime<Utc>,
    pub last_occurred: DateTime<Utc>,
    pub last_position: i64,
}

/// Late usage of one meter of one closed period, on the invoice it landed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LateMeter {
    pub source: Period,
    pub meter: String,
    pub segments: Vec<LateSegment>,
}

/// Late usage of one price of a closed period, on the invoice it landed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LateSegment {
    pub price: Option<PriceRef>,
    /// Late units that landed here (net of corrections and voids).
    pub delta: Decimal,
    /// The closed period's quantity under this price after the last late
    /// event that landed here.
    pub period_total: Decimal,
    /// Unrounded marginal amount: the sum, over the late events that landed
    /// here, of the change each made to this price's amount for the period.
    /// Summed over all invoices this telescopes to `price(final) −
    /// price(billed)`, however late events spread over invoices.
    pub amount: Decimal,
    /// Set when late events of this price landed here (a segment can also
    /// appear only because an earlier one shifted its free allowance).
    pub window: Option<LateWindow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LateWindow {
    pub first_occurred: DateTime<Utc>,
    pub last_occurred: DateTime<Utc>,
    pub after_position: i64,
    pub up_to_position: i64,
}

/// The ordering key of the catalog entry a usage event is priced with.
fn wanted(price: Option<&PriceSet>) -> Option<(DateTime<Utc>, &str)> {
    price.map(|p| (p.effective_from, p.price_id.as_str()))
}

/// Apply `delta` to a segment list, creating the segment if needed (the
/// price is copied only then); returns the quantity before and after,
/// clamped at zero.
fn add_to(
    segments: &mut Vec<Segment>,
    price: Option<&PriceSet>,
    delta: Decimal,
    occurred: DateTime<Utc>,
    position: i64,
) -> (Decimal, Decimal) {
    let index = match segments.binary_search_by(|s| key(&s.price).cmp(&wanted(price))) {
        Ok(i) => i,
        Err(i) => {
            let segment = Segment {
                price: price.map(PriceRef::of),
                quantity: Decimal::ZERO,
                first_occurred: occurred,
                last_occurred: occurred,
                last_position: position,
            };
            segments.insert(i, segment);
            i
        }
    };
    let Some(segment) = segments.get_mut(index) else {
        return (Decimal::ZERO, Decimal::ZERO);
    };
    let before = segment.quantity;
    let after = before
        .checked_add(delta)
        .unwrap_or(Decimal::MAX)
        .max(Decimal::ZERO)
        .normalize();
    segment.quantity = after;
    segment.first_occurred = segment.first_occurred.min(occurred);
    segment.last_occurred = segment.last_occurred.max(occurred);
    segment.last_position = position;
    (before, after)
}

/// [`add_to`] on a meter's segments, creating the meter's list if needed.
fn add_to_meter(
    usage: &mut BTreeMap<String, Vec<Segment>>,
    meter: &str,
    price: Option<&PriceSet>,
    delta: Decimal,
    occurred: DateTime<Utc>,
    position: i64,
) -> (Decimal, Decimal) {
    if let Some(segments) = usage.get_mut(meter) {
        return add_to(segments, price, delta, occurred, position);
    }
    let mut segments = Vec::new();
    let result = add_to(&mut segments, price, delta, occurred, position);
    usage.insert(meter.to_owned(), segments);
    result
}

/// Price a meter's segments of a period together ([`price_period`]: the
/// allowance is shared, the minimum is per meter). `None` where there is
/// no price.
pub(crate) fn price_chain<'a>(
    segments: impl Iterator<Item = (Option<&'a PriceRef>, Decimal)>,
) -> Vec<Option<Priced>> {
    price_period(segments.map(|(price, quantity)| (price.map(|p| &p.spec), quantity)))
}

/// A segment's price key, owned.
type PriceKey = Option<(DateTime<Utc>, String)>;

/// Each segment's unrounded amount for the period, by price key.
fn amounts(segments: &[Segment]) -> Vec<(PriceKey, Decimal)> {
    let priced = price_chain(segments.iter().map(|s| (s.price.as_ref(), s.quantity)));
    segments
        .iter()
        .zip(priced)
        .map(|(s, p)| {
            let key = key(&s.price).map(|(at, id)| (at, id.to_owned()));
            (key, p.map_or(Decimal::ZERO, |p| p.amount))
        })
        .collect()
}

impl OrgBook {
    /// Fold a usage quantity change: `delta` units of `meter` that occurred
    /// at `occurred` (negative for corrections down and voids).
    pub(crate) fn fold_usage(
        &mut self,
        catalog: &Catalog,
        meter: &str,
        occurred: DateTime<Utc>,
        delta: Decimal,
        position: i64,
        changed: &mut Changed,
    ) {
        let price = catalog.price_for_currency(meter, self.currency, occurred);
        let period = self.period_of(occurred);
        if !self.is_closed(period.start) {
            self.ensure_period(period, changed);
            if let Some(pb) = self.periods.get_mut(&period.start) {
                add_to_meter(&mut pb.usage, meter, price, delta, occurred, position);
                changed.insert(period.start);
            }
            return;
        }
        // Late: the closed invoice stays as it is; its aggregates keep
        // counting (the base of the marginal price), the adjustment lands
        // on the next open invoice.
        let target = self.next_open_after(period.start, changed);
        let Some(source) = self.periods.get_mut(&period.start) else {
            return;
        };
        let before = amounts(source.usage.get(meter).map_or(&[][..], Vec::as_slice));
        let (q_before, q_after) =
            add_to_meter(&mut source.usage, meter, price, delta, occurred, position);
        let segments = source.usage.get(meter).map_or(&[][..], Vec::as_slice);
        let wanted_key = wanted(price);
        // (price, period quantity, marginal amount, is the event's segment)
        let mut changes = Vec::new();
        for (segment, (key_after, amount_after)) in segments.iter().zip(amounts(segments)) {
            let amount_before = before
                .iter()
                .find(|(k, _)| *k == key_after)
                .map_or(Decimal::ZERO, |(_, a)| *a);
            let marginal = amount_after
                .checked_sub(amount_before)
                .unwrap_or(Decimal::ZERO);
            let own = key(&segment.price) == wanted_key;
            if own || !marginal.is_zero() {
                changes.push((segment.price.clone(), segment.quantity, marginal, own));
            }
        }
        let Some(pb) = self.periods.get_mut(&target) else {
            return;
        };
        let at = match pb
            .late
            .iter()
            .position(|l| l.source.start == period.start && l.meter == meter)
        {
            Some(at) => at,
            None => {
                let entry = LateMeter {
                    source: period,
                    meter: meter.to_owned(),
                    segments: Vec::new(),
                };
                let at = pb.late.partition_point(|l| {
                    (l.source.start, l.meter.as_str()) < (period.start, meter)
                });
                pb.late.insert(at, entry);
                at
            }
        };
        let Some(entry) = pb.late.get_mut(at) else {
            return;
        };
        for (price, period_total, marginal, own) in changes {
            let index = match entry
                .segments
                .binary_search_by(|s| key(&s.price).cmp(&key(&price)))
            {
                Ok(i) => i,
                Err(i) => {
                    let segment = LateSegment {
                        price,
                        delta: Decimal::ZERO,
                        period_total,
                        amount: Decimal::ZERO,
                        window: None,
                    };
                    entry.segments.insert(i, segment);
                    i
                }
            };
            let Some(segment) = entry.segments.get_mut(index) else {
                continue;
            };
            segment.period_total = period_total;
            segment.amount = segment
                .amount
                .checked_add(marginal)
                .unwrap_or(segment.amount);
            if own {
                segment.delta = segment
                    .delta
                    .checked_add(q_after - q_before)
                    .unwrap_or(segment.delta)
                    .normalize();
                segment.window = Some(match segment.window.take() {
                    None => LateWindow {
                        first_occurred: occurred,
                        last_occurred: occurred,
                        after_position: position.saturating_sub(1),
                        up_to_position: position,
                    },
                    Some(w) => LateWindow {
                        first_occurred: w.first_occurred.min(occurred),
                        last_occurred: w.last_occurred.max(occurred),
                        after_position: w.after_position,
                        up_to_position: position,
                    },
                });
            }
        }
        changed.insert(target);
    }
}
