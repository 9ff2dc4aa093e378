//! Turning a period's state into its invoice: lines, rounding, credits.

use std::collections::BTreeSet;

use ledger::money::{Currency, MAX_AMOUNT};
use rust_decimal::Decimal;

use super::book::{OrgBook, PeriodBook};
use super::format;
use super::invoice::{Invoice, InvoiceLine, LineKind, LineSource, LINE_DESCRIPTION_MAX};
use super::lifecycle::CreditEntry;
use super::lines::{late_lines, usage_lines};
use super::FoldError;
use crate::pricing::Sat;

pub(crate) struct Rendered {
    pub invoice: Invoice,
    /// Unused credit (and negative balance) to carry to the next invoice.
    pub carry: Vec<CreditEntry>,
}

/// The invoice of `pb`, or [`FoldError::AmountOutOfRange`] when a line or
/// a total would leave ±[`MAX_AMOUNT`] (never a clamped amount).
pub(crate) fn render(org: &OrgBook, pb: &PeriodBook) -> Result<Rendered, FoldError> {
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
            unit: None,
            pricing: None,
            proration: None,
            adjusts_period_start: charge.late_for,
            source: ids_source("ChargeAdded", &charge.charge_id),
        });
    }
    for line in &lines {
        check(org, pb, Some(&line.line_id), "amount", line.amount)?;
    }
    let mut sat = Sat::default();
    let subtotal = lines
        .iter()
        .fold(Decimal::ZERO, |sum, l| sat.add(sum, l.amount));
    check(org, pb, None, "subtotal", round(currency, subtotal))?;

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
            amount: round(currency, balance),
            tiers: Vec::new(),
            unit: None,
            pricing: None,
            proration: None,
            adjusts_period_start: None,
            source: LineSource::derived(),
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
            LineSource::derived()
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
            unit: None,
            pricing: None,
            proration: None,
            adjusts_period_start: None,
            source,
        });
    }
    dedupe_line_ids(&mut lines);
    for line in &mut lines {
        // Bytes bound characters: most descriptions need no counting.
        if line.description.len() > LINE_DESCRIPTION_MAX {
            line.description = format::clip(&line.description, LINE_DESCRIPTION_MAX);
        }
        // Balance and credit lines are bounded by the subtotal; checked
        // all the same, so no amount escapes the rule.
        check(org, pb, Some(&line.line_id), "amount", line.amount)?;
    }
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
        payment_status: Default::default(),
        paid_at: None,
        last_payment_failure: None,
        next_payment_attempt: None,
        version: pb.version,
        position: pb.position,
        lines,
        subtotal: round(currency, subtotal),
        credit_applied: round(currency, applied_total),
        total: round(currency, total),
        credit_remaining: round(currency, credit_remaining),
    };
    for (field, amount) in [
        ("credit_applied", invoice.credit_applied),
        ("total", invoice.total),
        ("credit_remaining", invoice.credit_remaining),
    ] {
        check(org, pb, None, field, amount)?;
    }
    Ok(Rendered { invoice, carry })
}

/// Round once to the minor unit (half away from zero) and show the minor
/// unit's places (`1` → `1.00`, never `-0.00`), so amounts serialise
/// uniformly. An amount beyond ±[`MAX_AMOUNT`] is left as it is, for
/// [`check`] to refuse.
pub(crate) fn round(currency: Currency, amount: Decimal) -> Decimal {
    currency.invoice_amount(amount).unwrap_or(amount)
}

/// Refuse an invoice amount beyond the bound (or, which cannot happen
/// within it, one without exactly the minor unit's places).
fn check(
    org: &OrgBook,
    pb: &PeriodBook,
    line_id: Option<&str>,
    field: &'static str,
    amount: Decimal,
) -> Result<(), FoldError> {
    let exact = amount.abs() <= MAX_AMOUNT && amount.scale() == org.currency.minor_unit_scale();
    if exact {
        return Ok(());
    }
    Err(FoldError::AmountOutOfRange {
        org_id: org.org_id.clone(),
        period_start: pb.period.start,
        line_id: line_id.map(str::to_owned),
        field,
        amount,
    })
}

fn ids_source(event_type: &str, id: &str) -> LineSource {
    LineSource {
        event_types: vec![event_type.to_owned()],
        ids: vec![id.to_owned()],
        ..LineSource::default()
    }
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
