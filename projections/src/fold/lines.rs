//! The usage lines of an invoice: per (meter, price), and late adjustments
//! at their marginal price, with human descriptions and the same terms in
//! machine-readable fields.

use chrono::{DateTime, Duration, Utc};
use ledger::money::Currency;
use ledger::pricing::PricingModel;
use rust_decimal::Decimal;

use super::format;
use super::invoice::{InvoiceLine, LineKind, LinePricing, LineSource, PricingModelKind};
use super::render::round;
use super::usage::{price_chain, LateMeter, LateSegment, PriceRef, Segment};
use super::words;
use crate::period::Period;
use crate::pricing::{Priced, TierCharge};

fn price_key(price: Option<&PriceRef>) -> String {
    price.map_or_else(|| "no-price".to_owned(), |p| p.price_id.clone())
}

fn unit_price_of(price: Option<&PriceRef>) -> Option<Decimal> {
    match &price?.spec.model {
        PricingModel::PerUnit { unit_price } => Some(unit_price.value()),
        _ => None,
    }
}

pub(crate) fn model_kind(model: &PricingModel) -> PricingModelKind {
    match model {
        PricingModel::PerUnit { .. } => PricingModelKind::PerUnit,
        PricingModel::Graduated { .. } => PricingModelKind::Graduated,
        PricingModel::Volume { .. } => PricingModelKind::Volume,
    }
}

/// The terms of `price` every line priced by it shows.
fn terms(price: &PriceRef, amount_unrounded: Decimal) -> LinePricing {
    LinePricing {
        model: model_kind(&price.spec.model),
        price_description: price.description.clone(),
        free_allowance: price.spec.free_allowance.value(),
        free_quantity: None,
        billable_quantity: None,
        minimum_charge: price.spec.minimum_charge.map(|m| m.value()),
        minimum_top_up: None,
        period_quantity: None,
        amount_unrounded,
    }
}

/// Usage windows are inclusive of their last instant; sources are `[from, to)`.
fn after(at: DateTime<Utc>) -> DateTime<Utc> {
    at.checked_add_signed(Duration::microseconds(1))
        .unwrap_or(at)
}

pub(crate) fn usage_lines(
    currency: Currency,
    meter: &str,
    segments: &[Segment],
    lines: &mut Vec<InvoiceLine>,
) {
    let priced = price_chain(segments.iter().map(|s| (s.price.as_ref(), s.quantity)));
    for (segment, priced) in segments.iter().zip(priced) {
        let price = segment.price.as_ref();
        let amount = round(
            currency,
            priced.as_ref().map_or(Decimal::ZERO, |p| p.amount),
        );
        let pricing = price.zip(priced.as_ref()).map(|(price, p)| LinePricing {
            free_quantity: Some(p.free_quantity),
            billable_quantity: Some(p.billable_quantity),
            minimum_top_up: p.minimum_applied.map(|_| p.minimum_top_up),
            ..terms(price, p.amount)
        });
        lines.push(InvoiceLine {
            line_id: format!("usage:{meter}:{}", price_key(price)),
            kind: LineKind::Usage,
            description: describe(currency, meter, price, segment.quantity, priced.as_ref()),
            meter: Some(meter.to_owned()),
            price_id: price.map(|p| p.price_id.clone()),
            quantity: segment.quantity,
            unit_price: unit_price_of(price),
            amount,
            tiers: tiers_of(price, priced.as_ref()),
            unit: price.map(|p| p.unit.clone()),
            pricing,
            proration: None,
            adjusts_period_start: None,
            source: LineSource {
                event_types: LineSource::usage_types(),
                meter: Some(meter.to_owned()),
                occurred_from: Some(segment.first_occurred),
                occurred_to: Some(after(segment.last_occurred)),
                after_position: None,
                up_to_position: Some(segment.last_position),
                ids: Vec::new(),
            },
        });
    }
}

pub(crate) fn late_lines(currency: Currency, late: &LateMeter, lines: &mut Vec<InvoiceLine>) {
    let period = describe_period(&late.source);
    for segment in &late.segments {
        let amount = round(currency, segment.amount);
        if segment.window.is_none() && amount.is_zero() {
            continue;
        }
        let price = segment.price.as_ref();
        let window = segment.window.as_ref();
        lines.push(InvoiceLine {
            line_id: format!(
                "late:{}:{}:{}",
                format::day(late.source.start),
                late.meter,
                price_key(price)
            ),
            kind: LineKind::LateUsageAdjustment,
            description: describe_late(currency, &period, &late.meter, segment),
            meter: Some(late.meter.clone()),
            price_id: price.map(|p| p.price_id.clone()),
            quantity: segment.delta,
            unit_price: unit_price_of(price),
            amount,
            tiers: Vec::new(),
            unit: price.map(|p| p.unit.clone()),
            pricing: price.map(|p| LinePricing {
                period_quantity: Some(segment.period_total),
                ..terms(p, segment.amount)
            }),
            proration: None,
            adjusts_period_start: Some(late.source.start),
            source: LineSource {
                event_types: LineSource::usage_types(),
                meter: Some(late.meter.clone()),
                occurred_from: window.map(|w| w.first_occurred),
                occurred_to: window.map(|w| after(w.last_occurred)),
                after_position: window.map(|w| w.after_position),
                up_to_position: window.map(|w| w.up_to_position),
                ids: Vec::new(),
            },
        });
    }
}

/// "Late usage for 2026-03-01 – 2026-03-31, CPU time: +30 seconds (period
/// total now 130 seconds), priced at the margin of that period's $0.05 per
/// second = $1.50".
fn describe_late(currency: Currency, period: &str, meter: &str, segment: &LateSegment) -> String {
    let Some(price) = segment.price.as_ref() else {
        return format!(
            "Late usage for {period}, {meter}: {}, not billed: no price in effect",
            signed(segment.delta, "unit")
        );
    };
    let unit = price.unit.as_str();
    let total = format::quantity_of(segment.period_total, unit);
    let change = if segment.window.is_none() {
        // Only repriced: earlier late units of the period took more of the
        // free allowance this price's units had.
        format!("period total still {total}; repriced because late usage under an earlier price used more of the period's free allowance")
    } else {
        format!("{} (period total now {total})", signed(segment.delta, unit))
    };
    let model = match &price.spec.model {
        PricingModel::PerUnit { unit_price } => format!(
            "{} per {}",
            format::money(currency, unit_price.value()),
            format::units(unit, Decimal::ONE)
        ),
        PricingModel::Graduated { .. } => "graduated tiers".to_owned(),
        PricingModel::Volume { .. } => "volume tiers".to_owned(),
    };
    format!(
        "Late usage for {period}, {}: {change}, priced at the margin of that period's {model} = {}",
        words::title(price, meter),
        format::amount(currency, segment.amount)
    )
}

fn signed(delta: Decimal, unit: &str) -> String {
    let sign = if delta.is_sign_negative() && !delta.is_zero() {
        ""
    } else {
        "+"
    };
    format!("{sign}{}", format::quantity_of(delta, unit))
}

fn describe_period(period: &Period) -> String {
    let last = period
        .end
        .checked_sub_signed(Duration::days(1))
        .unwrap_or(period.end);
    format!("{} – {}", format::day(period.start), format::day(last))
}

fn tiers_of(price: Option<&PriceRef>, priced: Option<&Priced>) -> Vec<TierCharge> {
    match (price.map(|p| &p.spec.model), priced) {
        (Some(PricingModel::Graduated { .. } | PricingModel::Volume { .. }), Some(p)) => {
            p.breakdown.clone()
        }
        _ => Vec::new(),
    }
}

/// The usage line's description (see [`words`]).
fn describe(
    currency: Currency,
    meter: &str,
    price: Option<&PriceRef>,
    quantity: Decimal,
    priced: Option<&Priced>,
) -> String {
    match (price, priced) {
        (Some(price), Some(priced)) => words::usage(currency, meter, price, quantity, priced),
        _ => format!(
            "{meter}: {}, not billed: no price in effect",
            format::quantity_of(quantity, "unit")
        ),
    }
}
