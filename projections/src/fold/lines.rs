//! The usage lines of an invoice: per (meter, price), and late adjustments
//! at their marginal price, with human descriptions.

use chrono::{DateTime, Duration, Utc};
use ledger::money::Currency;
use ledger::pricing::PricingModel;
use rust_decimal::Decimal;

use super::format;
use super::invoice::{InvoiceLine, LineKind, LineSource};
use super::render::round;
use super::usage::{price_chain, LateMeter, PriceRef, Segment};
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
        let sign = if segment.delta.is_sign_negative() {
            ""
        } else {
            "+"
        };
        let description = format!(
            "Late usage for the period {period}: {sign}{} {} (period total now {}), {}",
            format::quantity(segment.delta),
            price.map_or(late.meter.as_str(), |p| p.unit.as_str()),
            format::quantity(segment.period_total),
            terms(currency, price),
        );
        let window = segment.window.as_ref();
        lines.push(InvoiceLine {
            line_id: format!(
                "late:{}:{}:{}",
                format::day(late.source.start),
                late.meter,
                price_key(price)
            ),
            kind: LineKind::LateUsageAdjustment,
            description,
            meter: Some(late.meter.clone()),
            price_id: price.map(|p| p.price_id.clone()),
            quantity: segment.delta,
            unit_price: unit_price_of(price),
            amount,
            tiers: Vec::new(),
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

/// How a late adjustment was priced, in words.
fn terms(currency: Currency, price: Option<&PriceRef>) -> String {
    let Some(price) = price else {
        return "no price in effect, not billed".to_owned();
    };
    let model = match &price.spec.model {
        PricingModel::PerUnit { unit_price } => {
            format!(
                "{} per {}",
                format::money(currency, unit_price.value()),
                price.unit
            )
        }
        PricingModel::Graduated { .. } => "graduated tiers".to_owned(),
        PricingModel::Volume { .. } => "volume tiers".to_owned(),
    };
    format!(
        "priced at the margin of the period's {model} [{}]",
        price.price_id
    )
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

/// "CPU-second: 12,345.5 × $0.0000022", with tiers, allowance and minimum.
fn describe(
    currency: Currency,
    meter: &str,
    price: Option<&PriceRef>,
    quantity: Decimal,
    priced: Option<&Priced>,
) -> String {
    let (Some(price), Some(priced)) = (price, priced) else {
        return format!(
            "{meter}: {} — no price in effect, not billed",
            format::quantity(quantity)
        );
    };
    let money = |d| format::money(currency, d);
    let mut text = format!("{}: {}", price.unit, format::quantity(quantity));
    if !priced.free_quantity.is_zero() {
        text.push_str(&format!(
            ", {} free",
            format::quantity(priced.free_quantity)
        ));
    }
    match &price.spec.model {
        PricingModel::PerUnit { unit_price } => {
            let billable = if priced.free_quantity.is_zero() {
                String::new()
            } else {
                format!(", {} billable", format::quantity(priced.billable_quantity))
            };
            text.push_str(&format!("{billable} × {}", money(unit_price.value())));
        }
        PricingModel::Graduated { .. } | PricingModel::Volume { .. } => {
            let model = if matches!(price.spec.model, PricingModel::Volume { .. }) {
                "volume"
            } else {
                "graduated"
            };
            let parts: Vec<String> = priced
                .breakdown
                .iter()
                .map(|t| {
                    let mut part = format!(
                        "tier {}: {} × {}",
                        t.tier,
                        format::quantity(t.quantity),
                        money(t.unit_price)
                    );
                    if !t.flat_fee.is_zero() {
                        part.push_str(&format!(" + {} flat", money(t.flat_fee)));
                    }
                    part
                })
                .collect();
            let parts = if parts.is_empty() {
                "nothing billable".to_owned()
            } else {
                parts.join(" + ")
            };
            text.push_str(&format!(" ({model}: {parts})"));
        }
    }
    if let Some(minimum) = priced.minimum_applied {
        text.push_str(&format!("; minimum charge {} applies", money(minimum)));
    }
    if priced.saturated {
        text.push_str("; amount exceeds the representable range and is capped");
    }
    text.push_str(&format!(" [{}]", price.price_id));
    text
}
