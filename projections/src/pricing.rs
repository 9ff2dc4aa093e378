//! Pricing a period's quantity of one meter under a [`PriceSpec`].
//!
//! Everything here is unrounded, full-precision `Decimal`: the invoice fold
//! rounds each line **once** with `Currency::round` (half away from zero).
//! docs/pricing.md states these rules with worked examples; each example is
//! a test in `projections/tests/pricing_examples.rs`.
//!
//! Rules:
//! - A meter's usage in a period is split into **segments**, one per price
//!   that priced some of it, in chronological price order (a price change
//!   mid-period gives two). [`price_period`] prices them together.
//! - **Free allowance** is deducted first, once per meter and period: the
//!   first `free_allowance` units of the period are free. A segment's
//!   allowance is its own price's `free_allowance` minus every unit of the
//!   segments before it (under any price, or none), floored at zero.
//! - **Per-unit**: billable quantity × unit price.
//! - **Graduated**: tier `k` covers the billable units in
//!   `(up_to[k-1], up_to[k]]` (bounds inclusive above, `up_to[0-1]` = 0)
//!   and prices them at its unit price; its flat fee is added once if at
//!   least one billable unit lands in it.
//! - **Volume**: the tier whose range contains the billable quantity (the
//!   first with `billable ≤ up_to`, so a quantity exactly on a bound belongs
//!   to that tier) prices every billable unit; its flat fee is added once if
//!   the billable quantity is above zero.
//! - Tiers count the billable quantity of one segment (after the
//!   allowance): a new price mid-period starts its tiers from zero.
//! - **Minimum charge** is per meter and period: among the segments with
//!   billable units (after the allowance), the largest `minimum_charge`
//!   governs (the latest segment on ties); if the meter's amounts for the
//!   period sum to less, the difference is added to that segment. Usage
//!   that was all free owes no minimum.
//! - Arithmetic never panics: a result beyond `Decimal`'s range saturates
//!   at `Decimal::MAX` and sets [`Priced::saturated`]; the fold then refuses
//!   the invoice (its amounts are bounded), it never bills a capped amount.

use ledger::pricing::{PriceSpec, PricingModel, Tier};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What one tier contributed, for display on the invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TierCharge {
    /// 1-based tier number in the price's tier table.
    pub tier: usize,
    /// Units of this tier, `(from, up_to]`.
    pub from: Decimal,
    pub up_to: Option<Decimal>,
    /// Billable units priced by this tier.
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub flat_fee: Decimal,
    /// quantity × unit price + flat fee, unrounded.
    pub amount: Decimal,
}

/// The price of one segment of a meter's usage in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    /// Units covered by the free allowance.
    pub free_quantity: Decimal,
    /// Units left after the allowance: what the model priced.
    pub billable_quantity: Decimal,
    /// Unrounded amount: the model's (flat fees included) plus
    /// [`Priced::minimum_top_up`].
    pub amount: Decimal,
    /// Tiers (or the single per-unit rate) that priced the quantity.
    pub breakdown: Vec<TierCharge>,
    /// The minimum charge that raised this segment's amount, when one did.
    pub minimum_applied: Option<Decimal>,
    /// What the minimum added to reach it (zero when none applied).
    pub minimum_top_up: Decimal,
    /// The amount exceeded `Decimal`'s range and was capped.
    pub saturated: bool,
}

impl Priced {
    /// The model's amount, before any minimum charge.
    pub fn usage_amount(&self) -> Decimal {
        self.amount
            .checked_sub(self.minimum_top_up)
            .unwrap_or(self.amount)
    }
}

/// Saturating decimal arithmetic that records whether it saturated.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Sat {
    pub saturated: bool,
}

impl Sat {
    pub fn add(&mut self, a: Decimal, b: Decimal) -> Decimal {
        a.checked_add(b)
            .unwrap_or_else(|| self.cap(a.is_sign_negative()))
    }

    pub fn sub(&mut self, a: Decimal, b: Decimal) -> Decimal {
        a.checked_sub(b)
            .unwrap_or_else(|| self.cap(a.is_sign_negative()))
    }

    pub fn mul(&mut self, a: Decimal, b: Decimal) -> Decimal {
        a.checked_mul(b)
            .unwrap_or_else(|| self.cap(a.is_sign_negative() != b.is_sign_negative()))
    }

    fn cap(&mut self, negative: bool) -> Decimal {
        self.saturated = true;
        if negative {
            Decimal::MIN
        } else {
            Decimal::MAX
        }
    }
}

/// Price `quantity` (the meter's whole quantity for the period, before the
/// allowance) under `spec`, as the period's only segment.
pub fn price(spec: &PriceSpec, quantity: Decimal) -> Priced {
    price_after(spec, quantity, Decimal::ZERO)
}

/// Price one segment on its own: `quantity` units priced by `spec`, after
/// `preceding` units of the same meter were already used earlier in the
/// period (under earlier prices); they consume the allowance first. The
/// segment's own minimum charge applies to its own amount.
pub fn price_after(spec: &PriceSpec, quantity: Decimal, preceding: Decimal) -> Priced {
    let mut priced = model_price(spec, quantity, preceding);
    if let Some(minimum) = spec.minimum_charge.map(|m| m.value()) {
        let total = priced.amount;
        raise_to(&mut priced, minimum, total);
    }
    priced
}

/// Price a meter's segments of one period, in chronological price order
/// (`None`: usage no price priced, which still uses up allowance). Returns
/// one entry per segment, `None` where there is no price.
pub fn price_period<'a>(
    segments: impl IntoIterator<Item = (Option<&'a PriceSpec>, Decimal)>,
) -> Vec<Option<Priced>> {
    let mut preceding = Decimal::ZERO;
    let mut priced = Vec::new();
    let mut minimums = Vec::new();
    for (spec, quantity) in segments {
        priced.push(spec.map(|s| model_price(s, quantity, preceding)));
        minimums.push(spec.and_then(|s| s.minimum_charge).map(|m| m.value()));
        preceding = preceding
            .checked_add(quantity.max(Decimal::ZERO))
            .unwrap_or(Decimal::MAX);
    }
    let mut sat = Sat::default();
    let total = priced
        .iter()
        .flatten()
        .fold(Decimal::ZERO, |sum, p| sat.add(sum, p.amount));
    // The largest minimum among segments with billable units; latest on ties.
    let mut governing: Option<(usize, Decimal)> = None;
    for (index, (p, minimum)) in priced.iter().zip(&minimums).enumerate() {
        if let (Some(p), Some(minimum)) = (p, minimum) {
            let billable = p.billable_quantity > Decimal::ZERO;
            if billable && governing.is_none_or(|(_, m)| *minimum >= m) {
                governing = Some((index, *minimum));
            }
        }
    }
    if let Some((index, minimum)) = governing {
        if let Some(Some(p)) = priced.get_mut(index) {
            raise_to(p, minimum, total);
        }
    }
    priced
}

/// Add what `total` lacks to reach `minimum` to `priced`, if there are
/// billable units and `total` is below it.
fn raise_to(priced: &mut Priced, minimum: Decimal, total: Decimal) {
    if priced.billable_quantity > Decimal::ZERO && total < minimum {
        let mut sat = Sat::default();
        let top_up = sat.sub(minimum, total);
        priced.amount = sat.add(priced.amount, top_up);
        priced.minimum_applied = Some(minimum);
        priced.minimum_top_up = top_up;
        priced.saturated |= sat.saturated;
    }
}

/// The model's price of a segment, allowance deducted, no minimum.
fn model_price(spec: &PriceSpec, quantity: Decimal, preceding: Decimal) -> Priced {
    let quantity = quantity.max(Decimal::ZERO);
    let mut sat = Sat::default();
    let allowance_left = sat
        .sub(spec.free_allowance.value(), preceding.max(Decimal::ZERO))
        .max(Decimal::ZERO);
    let free_quantity = allowance_left.min(quantity);
    let billable = sat.sub(quantity, free_quantity);

    let breakdown = match &spec.model {
        PricingModel::PerUnit { unit_price } => {
            let unit_price = unit_price.value();
            vec![TierCharge {
                tier: 1,
                from: Decimal::ZERO,
                up_to: None,
                quantity: billable,
                unit_price,
                flat_fee: Decimal::ZERO,
                amount: sat.mul(billable, unit_price),
            }]
        }
        PricingModel::Graduated { tiers } => graduated(tiers.as_slice(), billable, &mut sat),
        PricingModel::Volume { tiers } => volume(tiers.as_slice(), billable, &mut sat),
    };
    let mut amount = Decimal::ZERO;
    for charge in &breakdown {
        amount = sat.add(amount, charge.amount);
    }
    Priced {
        free_quantity,
        billable_quantity: billable,
        amount,
        breakdown,
        minimum_applied: None,
        minimum_top_up: Decimal::ZERO,
        saturated: sat.saturated,
    }
}

fn flat_fee(tier: &Tier) -> Decimal {
    tier.flat_fee.map_or(Decimal::ZERO, |f| f.value())
}

fn graduated(tiers: &[Tier], billable: Decimal, sat: &mut Sat) -> Vec<TierCharge> {
    let mut charges = Vec::new();
    let mut from = Decimal::ZERO;
    for (index, tier) in tiers.iter().enumerate() {
        if billable <= from {
            break;
        }
        let up_to = tier.up_to.map(|q| q.value());
        let top = up_to.map_or(billable, |u| u.min(billable));
        let units = sat.sub(top, from);
        let unit_price = tier.unit_price.value();
        let fee = flat_fee(tier);
        let amount = sat.mul(units, unit_price);
        charges.push(TierCharge {
            tier: index + 1,
            from,
            up_to,
            quantity: units,
            unit_price,
            flat_fee: fee,
            amount: sat.add(amount, fee),
        });
        match up_to {
            Some(u) => from = u,
            None => break,
        }
    }
    charges
}

fn volume(tiers: &[Tier], billable: Decimal, sat: &mut Sat) -> Vec<TierCharge> {
    if billable <= Decimal::ZERO {
        return Vec::new();
    }
    let mut from = Decimal::ZERO;
    for (index, tier) in tiers.iter().enumerate() {
        let up_to = tier.up_to.map(|q| q.value());
        let reaches = match up_to {
            None => true,
            Some(u) => billable <= u,
        };
        if reaches {
            let unit_price = tier.unit_price.value();
            let fee = flat_fee(tier);
            let amount = sat.mul(billable, unit_price);
            return vec![TierCharge {
                tier: index + 1,
                from,
                up_to,
                quantity: billable,
                unit_price,
                flat_fee: fee,
                amount: sat.add(amount, fee),
            }];
        }
        if let Some(u) = up_to {
            from = u;
        }
    }
    // A validated tier table ends open-ended, so this is unreachable; an
    // empty breakdown prices nothing rather than panicking.
    Vec::new()
}
