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
use crate::pricing::{price_after, Priced};

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

/// `base` is what the closed period had billed (plus earlier adjustments)
/// under this price when the adjustment started; `delta` the late units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LateSegment {
    pub price: Option<PriceRef>,
    pub base: Decimal,
    pub delta: Decimal,
    /// Set when late events landed on it (not only part of the base).
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

/// Price a meter's segments in order; each segment's allowance is reduced
/// by the units of the segments before it. `None` where there is no price.
pub(crate) fn price_chain<'a>(
    segments: impl Iterator<Item = (Option<&'a PriceRef>, Decimal)>,
) -> Vec<Option<Priced>> {
    let mut preceding = Decimal::ZERO;
    segments
        .map(|(price, quantity)| {
            let priced = price.map(|p| price_after(&p.spec, quantity, preceding));
            preceding = preceding.checked_add(quantity).unwrap_or(Decimal::MAX);
            priced
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
        let has_entry = self.periods.get(&target).is_some_and(|pb| {
            pb.late
                .iter()
                .any(|l| l.source.start == period.start && l.meter == meter)
        });
        let Some(source) = self.periods.get_mut(&period.start) else {
            return;
        };
        // The base of a new adjustment: everything the period has counted
        // so far for this meter (billed plus earlier late usage).
        let snapshot: Vec<LateSegment> = match (has_entry, source.usage.get(meter)) {
            (false, Some(segments)) => segments
                .iter()
                .map(|s| LateSegment {
                    price: s.price.clone(),
                    base: s.quantity,
                    delta: Decimal::ZERO,
                    window: None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let (before, after) =
            add_to_meter(&mut source.usage, meter, price, delta, occurred, position);
        let Some(pb) = self.periods.get_mut(&target) else {
            return;
        };
        if !has_entry {
            pb.late.push(LateMeter {
                source: period,
                meter: meter.to_owned(),
                segments: snapshot,
            });
            pb.late
                .sort_by(|a, b| (a.source.start, &a.meter).cmp(&(b.source.start, &b.meter)));
        }
        let Some(entry) = pb
            .late
            .iter_mut()
            .find(|l| l.source.start == period.start && l.meter == meter)
        else {
            return;
        };
        let index = match entry
            .segments
            .binary_search_by(|s| key(&s.price).cmp(&wanted(price)))
        {
            Ok(i) => i,
            Err(i) => {
                let segment = LateSegment {
                    price: price.map(PriceRef::of),
                    base: before,
                    delta: Decimal::ZERO,
                    window: None,
                };
                entry.segments.insert(i, segment);
                i
            }
        };
        if let Some(segment) = entry.segments.get_mut(index) {
            segment.delta = segment
                .delta
                .checked_add(after - before)
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
        changed.insert(target);
    }
}
