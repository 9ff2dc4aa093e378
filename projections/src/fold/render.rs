//! Turning a period's state into its invoice: lines, rounding, credits.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use ledger::money::Currency;
use ledger::pricing::PricingModel;
use rust_decimal::Decimal;

use super::book::{CreditEntry, OrgBook, PeriodBook};
use super::format;
use super::invoice::{Invoice, InvoiceLine, LineKind, LineSource};
use super::usage::{price_chain, LateMeter, PriceRef, Segment};
use crate::period::Period;
use crate::pricing::{Priced, Sat};

pub(crate) struct Rendered {
    pub invoice: Invoice,
    /// Unused credit (and negative balance) to carry to the next invoice.
    pub carry: Vec<CreditEntry>,
}

pub(crate) fn render(org: &OrgBook, pb: &PeriodBook) -> Rendered {
    let currency = org.currency;
    let mut lines = org.fee_lines(&pb.period);
    for (meter, segments) in &pb.usage {
        usage_lines(currency, meter, segments, &mut lines);
    }
    for late in &pb.late {
        late_lines(currency, late, &mut lines);
    }
    for charge in &pb.charges {
        let (kind, description) = match charge.late_for {
            None => (LineKind::Charge, charge.description.clone()),
            Some(start) => (
                LineKind::LateCharge,
                format!(
                    "Late charge (dated in the period from {}): {}",
                    format::day(start),
                    charge.description
                ),
            ),
        };
        lines.push(InvoiceLine {
            line_id: format!("charge:{}", charge.charge_id),
            kind,
            description,
            meter: None,
            price_id: None,
            quantity: Decimal::ONE,
            unit_price: Some(charge.amount),
            amount: round(currency, charge.amount),
            tiers: Vec::new(),
            adjusts_period_start: charge.late_for,
            source: ids_source("ChargeAdded", &charge.charge_id),
        });
    }
    let mut sat = Sat::default();
    let subtotal = lines
        .iter()
        .fold(Decimal::ZERO, |sum, l| sat.add(sum, l.amount));

    let mut carry = Vec::new();
    if subtotal.is_sign_negative() && !subtotal.is_zero() {
        let balance = -subtotal;
        lines.push(InvoiceLine {
            line_id: "balance:carried-forward".to_owned(),
            kind: LineKind::BalanceCarriedForward,
            description: format!(
                "Negative balance of {} carried forward to the next invoice",
                format::money(currency, balance)
            ),
            meter: None,
            price_id: None,
            quantity: Decimal::ONE,
            unit_price: None,
            amount: balance,
            tiers: Vec::new(),
            adjusts_period_start: None,
            source: LineSource::default(),
        });
        carry.push(CreditEntry {
            credit_id: format!("balance:{}", format::day(pb.period.start)),
            description: "Negative balance".to_owned(),
            amount: balance,
            carried_from: None,
        });
    }

    // Carried-in credits first (oldest first), then this period's grants.
    let mut available = subtotal.max(Decimal::ZERO);
    let mut applied_total = Decimal::ZERO;
    let ordered = pb
        .credits
        .iter()
        .filter(|c| c.carried_from.is_some())
        .chain(pb.credits.iter().filter(|c| c.carried_from.is_none()));
    for credit in ordered {
        let applied = credit.amount.min(available);
        available = sat.sub(available, applied);
        applied_total = sat.add(applied_total, applied);
        let remaining = sat.sub(credit.amount, applied);
        let mut description = match credit.carried_from {
            Some(from) => format!(
                "{} (carried forward from {})",
                credit.description,
                format::day(from)
            ),
            None => credit.description.clone(),
        };
        description.push_str(&format!(
            ": {} of {} applied",
            format::money(currency, applied),
            format::money(currency, credit.amount)
        ));
        if remaining > Decimal::ZERO {
            description.push_str(&format!(
                ", {} carries forward",
                format::money(currency, remaining)
            ));
            carry.push(CreditEntry {
                amount: remaining,
                ..credit.clone()
            });
        }
        let source = if credit.credit_id.starts_with("balance:") {
            LineSource {
                event_types: vec!["InvoiceFinalized".to_owned()],
                ..LineSource::default()
            }
        } else {
            ids_source("CreditGranted", &credit.credit_id)
        };
        lines.push(InvoiceLine {
            line_id: format!("credit:{}", credit.credit_id),
            kind: LineKind::Credit,
            description,
            meter: None,
            price_id: None,
            quantity: Decimal::ONE,
            unit_price: None,
            amount: round(currency, -applied),
            tiers: Vec::new(),
            adjusts_period_start: None,
            source,
        });
    }
    dedupe_line_ids(&mut lines);
    let total = lines
        .iter()
        .fold(Decimal::ZERO, |sum, l| sat.add(sum, l.amount));
    let credit_remaining = carry
        .iter()
        .fold(Decimal::ZERO, |sum, c| sat.add(sum, c.amount));
    let invoice = Invoice {
        org_id: org.org_id.clone(),
        period_start: pb.period.start,
        period_end: pb.period.end,
        currency,
        status: pb.status,
        payment_failed: pb.payment_failed.clone(),
        version: pb.version,
        position: pb.position,
        lines,
        subtotal: round(currency, subtotal),
        credit_applied: round(currency, applied_total),
        total: round(currency, total),
        credit_remaining: round(currency, credit_remaining),
    };
    Rendered { invoice, carry }
}

/// Round once to the minor unit (half away from zero) and show the minor
/// unit's places (`1` → `1.00`), so amounts serialise uniformly.
pub(crate) fn round(currency: Currency, amount: Decimal) -> Decimal {
    let mut rounded = currency.round(amount);
    rounded.rescale(currency.minor_unit_scale());
    rounded
}

fn ids_source(event_type: &str, id: &str) -> LineSource {
    LineSource {
        event_types: vec![event_type.to_owned()],
        ids: vec![id.to_owned()],
        ..LineSource::default()
    }
}

/// Usage windows are inclusive of their last instant; sources are `[from, to)`.
fn after(at: DateTime<Utc>) -> DateTime<Utc> {
    at.checked_add_signed(Duration::microseconds(1))
        .unwrap_or(at)
}

fn price_key(price: Option<&PriceRef>) -> String {
    price.map_or_else(|| "no-price".to_owned(), |p| p.price_id.clone())
}

fn unit_price_of(price: Option<&PriceRef>) -> Option<Decimal> {
    match &price?.spec.model {
        PricingModel::PerUnit { unit_price } => Some(unit_price.value()),
        _ => None,
    }
}

fn usage_lines(
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

fn late_lines(currency: Currency, late: &LateMeter, lines: &mut Vec<InvoiceLine>) {
    let before = price_chain(late.segments.iter().map(|s| (s.price.as_ref(), s.base)));
    let after_q: Vec<Decimal> = late.segments.iter().map(|s| s.base + s.delta).collect();
    let after_p = price_chain(
        late.segments
            .iter()
            .zip(&after_q)
            .map(|(s, q)| (s.price.as_ref(), *q)),
    );
    let period = describe_period(&late.source);
    for (i, segment) in late.segments.iter().enumerate() {
        let amount_of = |p: Option<&Option<Priced>>| {
            p.and_then(Option::as_ref)
                .map_or(Decimal::ZERO, |p| p.amount)
        };
        let marginal = amount_of(after_p.get(i)) - amount_of(before.get(i));
        if segment.window.is_none() && marginal.is_zero() {
            continue;
        }
        let price = segment.price.as_ref();
        let total = after_q.get(i).copied().unwrap_or(segment.base);
        let priced = after_p.get(i).and_then(Option::as_ref);
        let description = format!(
            "Late usage for the period {period}: {}{} (billed {} → {}); {}",
            if segment.delta.is_sign_negative() {
                ""
            } else {
                "+"
            },
            format::quantity(segment.delta),
            format::quantity(segment.base),
            format::quantity(total),
            describe(currency, &late.meter, price, total, priced),
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
            amount: round(currency, marginal),
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

fn describe_period(period: &Period) -> String {
    let last = period
        .end
        .checked_sub_signed(Duration::days(1))
        .unwrap_or(period.end);
    format!("{} – {}", format::day(period.start), format::day(last))
}

fn tiers_of(price: Option<&PriceRef>, priced: Option<&Priced>) -> Vec<crate::pricing::TierCharge> {
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

/// Line ids must be unique within an invoice; a repeat (a price id reused
/// with a new `effective_from`) gets `#2`, `#3`… in line order.
fn dedupe_line_ids(lines: &mut [InvoiceLine]) {
    let mut seen = BTreeSet::new();
    for line in lines.iter_mut() {
        if !seen.insert(line.line_id.clone()) {
            let mut n = 2;
            while seen.contains(&format!("{}#{n}", line.line_id)) {
                n += 1;
            }
            line.line_id = format!("{}#{n}", line.line_id);
            seen.insert(line.line_id.clone());
        }
    }
}
