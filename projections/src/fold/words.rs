//! A usage line in words: the price's description first, then the quantity
//! with its unit, the arithmetic, then allowance, tiers and minimum.
//!
//! - `shared-cpu-1x machine time: 4,185,699 seconds × $0.0000008 per second = $3.35`
//! - `outbound data transfer: 350 GB, of which 100 GB free (allowance 100 GB
//!   per period); 250 GB × $0.02 per GB = $5.00`
//! - `outbound data transfer: 12,500 GB, of which 100 GB free (allowance
//!   100 GB per period); graduated: 10,000 GB × $0.02 (tier 1: up to 10,000
//!   GB) + 2,400 GB × $0.01 (tier 2: over 10,000 GB) = $224.00`
//! - `volume storage: 23,214.447 GB-hours; volume pricing, tier 2 (over
//!   1,000 GB-hours) prices every unit: 23,214.447 GB-hours × $0.00015 per
//!   GB-hour = $3.48`
//! - `disk: 100 GB × $0.01 per GB = $1.00, raised to the $5.00 minimum
//!   charge per period`

use ledger::money::Currency;
use ledger::pricing::PricingModel;
use rust_decimal::Decimal;

use super::format::{self, quantity_of};
use super::usage::PriceRef;
use crate::pricing::{Priced, TierCharge};

/// The longest price description a line repeats, in characters.
const TITLE_MAX: usize = 200;
/// Tiers spelled out in a graduated line; more are summed up in a count
/// (the line's `tiers` field lists them all).
const TIERS_IN_WORDS: usize = 10;

/// What the line is for: the price's description, or the meter if the
/// price has none.
pub(crate) fn title(price: &PriceRef, meter: &str) -> String {
    let description = price.description.trim();
    if description.is_empty() {
        meter.to_owned()
    } else {
        format::clip(description, TITLE_MAX)
    }
}

pub(crate) fn usage(
    currency: Currency,
    meter: &str,
    price: &PriceRef,
    quantity: Decimal,
    priced: &Priced,
) -> String {
    let unit = price.unit.as_str();
    let mut text = format!("{}: {}", title(price, meter), quantity_of(quantity, unit));
    let allowance = allowance(price, quantity, priced);
    let has_clause = !allowance.is_empty();
    text.push_str(&allowance);
    let billable = priced.billable_quantity;
    let usage_amount = format::amount(currency, priced.usage_amount());
    if billable.is_zero() {
        text.push_str(&format!(" = {usage_amount}"));
    } else {
        match &price.spec.model {
            PricingModel::PerUnit { unit_price } => {
                let what = if has_clause {
                    format!("; {}", quantity_of(billable, unit))
                } else {
                    String::new()
                };
                text.push_str(&format!(
                    "{what} × {} per {} = {usage_amount}",
                    format::money(currency, unit_price.value()),
                    format::units(unit, Decimal::ONE),
                ));
            }
            PricingModel::Graduated { .. } => {
                let terms = graduated(currency, unit, &priced.breakdown);
                text.push_str(&format!("; graduated: {terms} = {usage_amount}"));
            }
            PricingModel::Volume { .. } => {
                let every = if has_clause {
                    "every billable unit"
                } else {
                    "every unit"
                };
                for tier in &priced.breakdown {
                    let fee = flat_fee(currency, tier);
                    text.push_str(&format!(
                        "; volume pricing, tier {} ({}) prices {every}: {} × {} per {}{fee} = {usage_amount}",
                        tier.tier,
                        range(unit, tier),
                        quantity_of(tier.quantity, unit),
                        format::money(currency, tier.unit_price),
                        format::units(unit, Decimal::ONE),
                    ));
                }
            }
        }
    }
    text.push_str(&minimum(currency, priced));
    text
}

/// `, of which 100 GB free (allowance 100 GB per period)` and its
/// variants; empty when the price has no allowance or nothing was used.
fn allowance(price: &PriceRef, quantity: Decimal, priced: &Priced) -> String {
    let allowance = price.spec.free_allowance.value();
    if allowance.is_zero() || quantity.is_zero() {
        return String::new();
    }
    let unit = price.unit.as_str();
    let total = quantity_of(allowance, unit);
    let free = priced.free_quantity;
    if priced.billable_quantity.is_zero() {
        format!(", all free (allowance {total} per period)")
    } else if free.is_zero() {
        format!(" (the period's {total} allowance was used up by earlier usage)")
    } else if free < allowance {
        format!(
            ", of which {} free (the rest of the period's {total} allowance after earlier usage)",
            quantity_of(free, unit)
        )
    } else {
        format!(
            ", of which {} free (allowance {total} per period)",
            quantity_of(free, unit)
        )
    }
}

/// `10,000 GB × $0.02 (tier 1: up to 10,000 GB) + …`.
fn graduated(currency: Currency, unit: &str, breakdown: &[TierCharge]) -> String {
    let mut parts: Vec<String> = breakdown
        .iter()
        .take(TIERS_IN_WORDS)
        .map(|t| {
            format!(
                "{} × {}{} (tier {}: {})",
                quantity_of(t.quantity, unit),
                format::money(currency, t.unit_price),
                flat_fee(currency, t),
                t.tier,
                range(unit, t)
            )
        })
        .collect();
    let more = breakdown.len().saturating_sub(TIERS_IN_WORDS);
    if more > 0 {
        parts.push(format!("{more} more tiers (listed in the line's tiers)"));
    }
    parts.join(" + ")
}

fn flat_fee(currency: Currency, tier: &TierCharge) -> String {
    if tier.flat_fee.is_zero() {
        String::new()
    } else {
        format!(" + {} flat fee", format::money(currency, tier.flat_fee))
    }
}

/// A tier's units in words; bounds are inclusive above: `up to 100 GB`,
/// `over 100 up to 1,000 GB`, `over 1,000 GB`, `all units`.
fn range(unit: &str, tier: &TierCharge) -> String {
    match (tier.from.is_zero(), tier.up_to) {
        (true, Some(up_to)) => format!("up to {}", quantity_of(up_to, unit)),
        (false, Some(up_to)) => format!(
            "over {} up to {}",
            format::quantity(tier.from),
            quantity_of(up_to, unit)
        ),
        (false, None) => format!("over {}", quantity_of(tier.from, unit)),
        (true, None) => format!("all {}", format::units(unit, Decimal::TWO)),
    }
}

/// `, raised to the $5.00 minimum charge per period`, or with other lines
/// of the meter in the period: `, plus $2.00 to reach …`.
fn minimum(currency: Currency, priced: &Priced) -> String {
    let Some(minimum) = priced.minimum_applied else {
        return String::new();
    };
    // Amounts here are below the minimum (≤ 10^12), so this cannot overflow.
    let others = minimum
        .checked_sub(priced.minimum_top_up)
        .and_then(|d| d.checked_sub(priced.usage_amount()))
        .unwrap_or(Decimal::ZERO);
    if others.is_zero() {
        format!(
            ", raised to the {} minimum charge per period",
            format::money(currency, minimum)
        )
    } else {
        format!(
            ", plus {} to reach the {} minimum charge per period for this meter (its other lines this period come to {})",
            format::amount(currency, priced.minimum_top_up),
            format::money(currency, minimum),
            format::amount(currency, others)
        )
    }
}
