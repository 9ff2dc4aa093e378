//! One organization's billing state and how each event changes it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use ledger::event::{InvoiceKey, OrganizationCreated};
use ledger::money::Currency;
use ledger::{LedgerEvent, OrgId, RecordedEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::fees::SubChange;
use super::invoice::{Invoice, InvoiceStatus};
use super::render::render;
use super::usage::{LateMeter, Segment};
use crate::period::{next_period, period_containing, Period};

/// One organization's whole billing state (persisted as JSON per org).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgBook {
    pub org_id: OrgId,
    pub currency: Currency,
    pub billing_anchor: DateTime<Utc>,
    /// Global position of the last event folded into this book.
    pub last_position: i64,
    pub(crate) subscriptions: BTreeMap<String, Vec<SubChange>>,
    pub(crate) periods: BTreeMap<DateTime<Utc>, PeriodBook>,
}

/// The state behind one invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PeriodBook {
    pub period: Period,
    pub status: InvoiceStatus,
    pub payment_failed: Option<String>,
    pub version: i64,
    pub position: i64,
    /// Usage aggregates per meter, segments in price order. Once the period
    /// is closed these keep counting late usage (billed + late so far): the
    /// base for the next late adjustment.
    pub usage: BTreeMap<String, Vec<Segment>>,
    pub late: Vec<LateMeter>,
    pub charges: Vec<ChargeEntry>,
    pub credits: Vec<CreditEntry>,
    /// The content as it was closed; `None` while Open.
    pub frozen: Option<Invoice>,
}

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

impl PeriodBook {
    fn new(period: Period) -> Self {
        Self {
            period,
            status: InvoiceStatus::Open,
            payment_failed: None,
            version: 0,
            position: 0,
            usage: BTreeMap::new(),
            late: Vec::new(),
            charges: Vec::new(),
            credits: Vec::new(),
            frozen: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == InvoiceStatus::Open
    }
}

/// Invoices (by period start) changed by the event being folded.
pub(crate) type Changed = BTreeSet<DateTime<Utc>>;

impl OrgBook {
    pub fn new(created: &OrganizationCreated) -> Self {
        Self {
            org_id: created.org_id.clone(),
            currency: created.currency,
            billing_anchor: created.billing_anchor,
            last_position: 0,
            subscriptions: BTreeMap::new(),
            periods: BTreeMap::new(),
        }
    }

    /// Fold one event of this organization (`decoded` is `event.decode()`;
    /// `catalog` holds every `PriceSet` before `event`). Returns the
    /// invoices whose content changed. Events of other organizations and
    /// events at or below [`OrgBook::last_position`] change nothing.
    pub fn apply(
        &mut self,
        catalog: &Catalog,
        event: &RecordedEvent,
        decoded: &LedgerEvent,
    ) -> Vec<InvoiceKey> {
        if decoded.org_id() != Some(&self.org_id) || event.global_position <= self.last_position {
            return Vec::new();
        }
        self.last_position = event.global_position;
        let position = event.global_position;
        let mut changed = Changed::new();
        match decoded {
            LedgerEvent::UsageRecorded(u) => {
                let delta = u.quantity.value();
                self.fold_usage(
                    catalog,
                    &u.meter,
                    event.occurred_at,
                    delta,
                    position,
                    &mut changed,
                );
            }
            LedgerEvent::UsageCorrected(c) => {
                let delta = c.quantity.value() - c.previous_quantity.value();
                self.fold_usage(
                    catalog,
                    &c.meter,
                    c.usage_occurred_at,
                    delta,
                    position,
                    &mut changed,
                );
            }
            LedgerEvent::UsageVoided(v) => {
                let delta = -v.previous_quantity.value();
                self.fold_usage(
                    catalog,
                    &v.meter,
                    v.usage_occurred_at,
                    delta,
                    position,
                    &mut changed,
                );
            }
            LedgerEvent::InvoiceFinalized(e) => self.close(
                e.invoice.period_start,
                InvoiceStatus::Finalized,
                &mut changed,
            ),
            LedgerEvent::InvoiceVoided(e) => {
                self.close(e.invoice.period_start, InvoiceStatus::Void, &mut changed)
            }
            LedgerEvent::InvoicePaid(e) => {
                self.close(e.invoice.period_start, InvoiceStatus::Paid, &mut changed)
            }
            LedgerEvent::InvoicePaymentFailed(e) => {
                let start = self.period_of(e.invoice.period_start).start;
                if let Some(pb) = self.periods.get_mut(&start) {
                    let reason = Some(e.reason.clone());
                    if pb.status == InvoiceStatus::Finalized && pb.payment_failed != reason {
                        pb.payment_failed = reason;
                        changed.insert(start);
                    }
                }
            }
            LedgerEvent::InvoicePublishedToStripe(_)
            | LedgerEvent::InvoiceFinalizedInStripe(_)
            | LedgerEvent::OrganizationCreated(_)
            | LedgerEvent::PriceSet(_) => {}
            other => self.fold_by_comparison(other, event, &mut changed),
        }
        let mut keys = Vec::with_capacity(changed.len());
        for start in changed {
            if let Some(pb) = self.periods.get_mut(&start) {
                pb.version += 1;
                pb.position = position;
                keys.push(InvoiceKey {
                    org_id: self.org_id.clone(),
                    period_start: start,
                });
            }
        }
        keys
    }

    /// Events whose effect on open invoices is easiest to see by rendering
    /// them before and after: subscriptions, charges, credits, period
    /// openings. Rare, so the cost does not matter.
    fn fold_by_comparison(
        &mut self,
        decoded: &LedgerEvent,
        event: &RecordedEvent,
        changed: &mut Changed,
    ) {
        let before: BTreeMap<DateTime<Utc>, Invoice> = self
            .periods
            .iter()
            .filter(|(_, pb)| pb.is_open())
            .map(|(start, pb)| (*start, render(self, pb).invoice))
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
                let amount = super::render::round(self.currency, c.amount.value().abs());
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
                if pb.is_open() && render(self, pb).invoice != *old {
                    changed.insert(*start);
                }
            }
        }
    }

    /// Close (Finalized, Paid or Void) or change the status of a closed
    /// invoice. Closing an Open invoice freezes its content and carries
    /// unused credit forward (a voided Open invoice carries all its credits).
    fn close(&mut self, period_start: DateTime<Utc>, to: InvoiceStatus, changed: &mut Changed) {
        let period = self.period_of(period_start);
        self.ensure_period(period, changed);
        let Some(pb) = self.periods.get(&period.start) else {
            return;
        };
        match (pb.status, to) {
            (InvoiceStatus::Open, _) => {
                let rendered = render(self, pb);
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
    }

    /// The period containing `at` for this organization.
    pub(crate) fn period_of(&self, at: DateTime<Utc>) -> Period {
        period_containing(self.billing_anchor, at)
    }

    /// Create the invoice of `period` if it does not exist yet.
    pub(crate) fn ensure_period(&mut self, period: Period, changed: &mut Changed) {
        if let std::collections::btree_map::Entry::Vacant(slot) = self.periods.entry(period.start) {
            slot.insert(PeriodBook::new(period));
            changed.insert(period.start);
        }
    }

    pub(crate) fn is_closed(&self, start: DateTime<Utc>) -> bool {
        self.periods.get(&start).is_some_and(|pb| !pb.is_open())
    }

    /// Where something dated `at` lands: its own period's invoice if that
    /// is not closed, else the next open invoice. Returns the invoice's
    /// start and, when late, the closed period's start.
    pub(crate) fn landing(
        &mut self,
        at: DateTime<Utc>,
        changed: &mut Changed,
    ) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
        let period = self.period_of(at);
        if self.is_closed(period.start) {
            (
                self.next_open_after(period.start, changed),
                Some(period.start),
            )
        } else {
            self.ensure_period(period, changed);
            (period.start, None)
        }
    }

    /// The earliest Open invoice after `start`; if there is none, the
    /// invoice of the period after the latest one is created.
    pub(crate) fn next_open_after(
        &mut self,
        start: DateTime<Utc>,
        changed: &mut Changed,
    ) -> DateTime<Utc> {
        let open = self
            .periods
            .range((Bound::Excluded(start), Bound::Unbounded))
            .find(|(_, pb)| pb.is_open())
            .map(|(s, _)| *s);
        if let Some(open) = open {
            return open;
        }
        let latest = self
            .periods
            .values()
            .next_back()
            .map_or_else(|| self.period_of(start), |pb| pb.period);
        let next = next_period(self.billing_anchor, &latest);
        self.ensure_period(next, changed);
        next.start
    }

    /// The invoice of the period starting at `period_start`, as it stands.
    pub fn invoice(&self, period_start: DateTime<Utc>) -> Option<Invoice> {
        self.periods
            .get(&period_start)
            .map(|pb| self.invoice_of(pb))
    }

    /// Every invoice of the organization, by period start.
    pub fn invoices(&self) -> Vec<Invoice> {
        self.periods
            .values()
            .map(|pb| self.invoice_of(pb))
            .collect()
    }

    fn invoice_of(&self, pb: &PeriodBook) -> Invoice {
        let mut invoice = match &pb.frozen {
            Some(frozen) => frozen.clone(),
            None => render(self, pb).invoice,
        };
        invoice.status = pb.status;
        invoice.payment_failed = pb.payment_failed.clone();
        invoice.version = pb.version;
        invoice.position = pb.position;
        invoice
    }
}
