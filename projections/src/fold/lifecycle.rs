//! Everything but usage: subscriptions, charges, credits, period openings
//! and the invoice lifecycle (finalize, pay, void).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ledger::{LedgerEvent, RecordedEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::book::{Changed, OrgBook};
use super::invoice::{Invoice, InvoiceStatus};
use super::render::{render, round};
use super::FoldError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChargeEntry {
    pub charge_id: String,
    pub description: String,
    pub amount: Decimal,
    pub position: i64,
    /// The closed period the charge was dated in, if it arrived late.
    pub late_for: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CreditEntry {
    /// `credit_id` of the grant, or `balance:<period>` for a negative
    /// balance carried forward.
    pub credit_id: String,
    pub description: String,
    /// Available amount, already rounded to the minor unit.
    pub amount: Decimal,
    /// The invoice period this credit was carried from.
    pub carried_from: Option<DateTime<Utc>>,
}

impl OrgBook {
    /// Events whose effect on open invoices is easiest to see by rendering
    /// them before and after: subscriptions, charges, credits, period
    /// openings. Rare, so the cost does not matter.
    pub(crate) fn fold_by_comparison(
        &mut self,
        decoded: &LedgerEvent,
        event: &RecordedEvent,
        changed: &mut Changed,
    ) {
        // An invoice that cannot be rendered (an amount out of range)
        // compares as `None`, and as changed.
        let before: BTreeMap<DateTime<Utc>, Option<Invoice>> = self
            .periods
            .iter()
            .filter(|(_, pb)| pb.is_open())
            .map(|(start, pb)| (*start, render(self, pb).ok().map(|r| r.invoice)))
            .collect();
        match decoded {
            LedgerEvent::SubscriptionStarted(s) => {
                let terms = Some((s.plan.clone(), s.monthly_fee.value()));
                self.fold_subscription(
                    &s.subscription_id,
                    s.effective_at,
                    terms,
                    event.global_position,
                    changed,
                );
            }
            LedgerEvent::SubscriptionChanged(s) => {
                let terms = Some((s.plan.clone(), s.monthly_fee.value()));
                self.fold_subscription(
                    &s.subscription_id,
                    s.effective_at,
                    terms,
                    event.global_position,
                    changed,
                );
            }
            LedgerEvent::SubscriptionCancelled(s) => {
                self.fold_subscription(
                    &s.subscription_id,
                    s.effective_at,
                    None,
                    event.global_position,
                    changed,
                );
            }
            LedgerEvent::ChargeAdded(c) => {
                let (start, late_for) = self.landing(event.occurred_at, changed);
                if let Some(pb) = self.periods.get_mut(&start) {
                    if !pb.charges.iter().any(|x| x.charge_id == c.charge_id) {
                        pb.charges.push(ChargeEntry {
                            charge_id: c.charge_id.clone(),
                            description: c.description.clone(),
                            amount: c.amount.value(),
                            position: event.global_position,
                            late_for,
                        });
                    }
                }
            }
            LedgerEvent::CreditGranted(c) => {
                let (start, _) = self.landing(event.occurred_at, changed);
                let amount = round(self.currency, c.amount.value().abs());
                if let Some(pb) = self.periods.get_mut(&start) {
                    if !pb.credits.iter().any(|x| x.credit_id == c.credit_id) {
                        pb.credits.push(CreditEntry {
                            credit_id: c.credit_id.clone(),
                            description: c.description.clone(),
                            amount,
                            carried_from: None,
                        });
                    }
                }
            }
            LedgerEvent::InvoicePeriodOpened(e) => {
                let period = self.period_of(e.invoice.period_start);
                self.ensure_period(period, changed);
            }
            _ => {}
        }
        for (start, pb) in &self.periods {
            if let Some(old) = before.get(start) {
                let now = render(self, pb).ok().map(|r| r.invoice);
                if pb.is_open() && (now.is_none() || now != *old) {
                    changed.insert(*start);
                }
            }
        }
    }

    /// Close (Finalized, Paid or Void) or change the status of a closed
    /// invoice. Closing an Open invoice freezes its content and carries
    /// unused credit forward (a voided Open invoice carries all its credits).
    /// An Open invoice with an amount out of range cannot be closed: it
    /// stays Open and the error names it.
    pub(crate) fn close(
        &mut self,
        period_start: DateTime<Utc>,
        to: InvoiceStatus,
        changed: &mut Changed,
    ) -> Result<(), FoldError> {
        let period = self.period_of(period_start);
        self.ensure_period(period, changed);
        let Some(pb) = self.periods.get(&period.start) else {
            return Ok(());
        };
        match (pb.status, to) {
            (InvoiceStatus::Open, _) => {
                let rendered = render(self, pb)?;
                let carry = if to == InvoiceStatus::Void {
                    pb.credits.clone()
                } else {
                    rendered.carry
                };
                if let Some(pb) = self.periods.get_mut(&period.start) {
                    pb.frozen = Some(rendered.invoice);
                    pb.status = to;
                }
                changed.insert(period.start);
                if !carry.is_empty() {
                    let target = self.next_open_after(period.start, changed);
                    if let Some(next) = self.periods.get_mut(&target) {
                        for credit in carry {
                            next.credits.push(CreditEntry {
                                carried_from: Some(period.start),
                                ..credit
                            });
                        }
                        changed.insert(target);
                    }
                }
            }
            (InvoiceStatus::Finalized, InvoiceStatus::Paid | InvoiceStatus::Void) => {
                if let Some(pb) = self.periods.get_mut(&period.start) {
                    pb.status = to;
                    if to == InvoiceStatus::Paid {
                        pb.payment_failed = None;
                    }
                }
                changed.insert(period.start);
            }
            _ => {}
        }
        Ok(())
    }
}
