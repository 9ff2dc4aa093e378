//! Pricing a period's quantity of one meter under a [`PriceSpec`].
//!
//! Everything here is unrounded, full-precision `Decimal`: the invoice fold
//! rounds each line **once** with `Currency::round` (half away from zero).
//!
//! Rules:
//! - **Free allowance** is deducted first, once per meter and period: the
//!   first `free_allowance` units of the period are free. When a period has
//!   several price segments (a price change mid-period), earlier segments'
//!   units count against a later segment's allowance ([`price_after`]).
//! - **Per-unit**: billable quantity × unit price.
//! - **Graduated**: each tier prices the units that fall inside it (like tax
//!   brackets); a tier's flat fee is added once if at least one billable
//!   unit lands in it.
//! - **Volume**: the tier the billable quantity reaches prices every unit;
//!   its flat fee is added if the billable quantity is above zero. A
//!   quantity exactly on a bound belongs to that tier (`up_to` inclusive).
//! - Tiers count the billable quantity of one price segment (after the
//!   allowance): a new price mid-period starts its tiers from zero, while
//!   the allowance is shared across the period's segments.
//! - **Minimum charge**: when the segment has any usage (quantity > 0,
//!   even if all of it is free), the amount is raised to the minimum.
//! - Arithmetic never panics: a result beyond `Decimal`'s range saturates
//!   at `Decimal::MAX` and sets [`Priced::saturated`] (unreachable with the
//!   ledger's bounds on quantities and prices, but never a crash).

use ledger::pricing::{PriceSpec, PricingModel, Tier};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What one tier contributed, for display on the invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The price of a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    /// Units covered by the free allowance.
    pub free_quantity: Decimal,
    /// Units left after the allowance: what the model priced.
    pub billable_quantity: Decimal,
    /// Unrounded, full-precision amount (minimum charge included).
    pub amount: Decimal,
    /// Tiers (or the single per-unit rate) that priced the quantity.
    pub breakdown: Vec<TierCharge>,
    /// The minimum charge, when it raised the amount.
    pub minimum_applied: Option<Decimal>,
    /// The amount exceeded `Decimal`'s range and was capped.
    pub saturated: bool,
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
/// allowance) under `spec`.
pub fn price(spec: &PriceSpec, quantity: Decimal) -> Priced {
    price_after(spec, quantity, Decimal::ZERO)
}

/// Price one segment of a period: `quantity` units priced by `spec`, after
/// `preceding` units of the same meter were already used earlier in the
/// period (under earlier prices); they consume the allowance first.
pub fn price_after(spec: &PriceSpec, quantity: Decimal, preceding: Decimal) -> Priced {
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
    let mut minimum_applied = None;
    if let Some(minimum) = spec.minimum_charge.map(|m| m.value()) {
        if quantity > Decimal::ZERO && amount < minimum {
            amount = minimum;
            minimum_applied = Some(minimum);
        }
    }
    Priced {
        free_quantity,
        billable_quantity: billable,
        amount,
        breakdown,
        minimum_applied,
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
