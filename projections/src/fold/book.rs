//! One organization's billing state and how each event changes it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use ledger::event::{InvoiceKey, OrganizationCreated};
use ledger::money::Currency;
use ledger::{LedgerEvent, OrgId, RecordedEvent};
use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::fees::SubChange;
use super::invoice::{Invoice, InvoiceStatus};
use super::lifecycle::{ChargeEntry, CreditEntry};
use super::payment::{Failure, PaymentFacts, PaymentStatus};
use super::render::render;
use super::usage::{LateMeter, Segment};
use super::FoldError;
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
    /// The periods this state holds: every Open one, the latest one, and
    /// any closed one loaded back for the events being folded.
    pub(crate) periods: BTreeMap<DateTime<Utc>, PeriodBook>,
    /// Closed periods compacted out of this state (see [`OrgBook::compact`]),
    /// each kept as a [`ClosedPeriod`] of its own: folding usage costs the
    /// same however many periods an organization has behind it.
    #[serde(default)]
    pub(crate) archived: BTreeMap<DateTime<Utc>, Period>,
}

/// A closed period compacted out of an organization's state, stored on its
/// own and restored only when an event concerns it (late usage, a payment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedPeriod(PeriodBook);

impl ClosedPeriod {
    pub fn period_start(&self) -> DateTime<Utc> {
        self.0.period.start
    }
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
    /// What Stripe reported about its payment (order-independent).
    #[serde(default)]
    pub payment: PaymentFacts,
}

impl PeriodBook {
    pub(crate) fn new(period: Period) -> Self {
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
            payment: PaymentFacts::default(),
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
            archived: BTreeMap::new(),
        }
    }

    /// Move every closed period but the latest out of this state; the
    /// caller stores them (each one's state row) and the state keeps only
    /// their periods, so it stops growing with the organization's age.
    pub fn compact(&mut self) -> Vec<ClosedPeriod> {
        let latest = self.periods.keys().next_back().copied();
        let closed: Vec<DateTime<Utc>> = self
            .periods
            .iter()
            .filter(|(start, pb)| !pb.is_open() && Some(**start) != latest)
            .map(|(start, _)| *start)
            .collect();
        closed
            .into_iter()
            .filter_map(|start| self.periods.remove(&start))
            .map(|pb| {
                self.archived.insert(pb.period.start, pb.period);
                ClosedPeriod(pb)
            })
            .collect()
    }

    /// The compacted periods an event may concern, which must be restored
    /// before it is folded (`decoded` is `event.decode()`): the periods of
    /// its `occurred_at`, of the usage it corrects and of the invoice it
    /// names. Over-approximate on purpose: restoring a period the event
    /// then leaves alone is harmless. The match is exhaustive, so a new
    /// event type has to say which periods it concerns.
    pub fn archived_touched(
        &self,
        occurred_at: DateTime<Utc>,
        decoded: &LedgerEvent,
    ) -> Vec<DateTime<Utc>> {
        if self.archived.is_empty() {
            return Vec::new();
        }
        let named = match decoded {
            LedgerEvent::UsageCorrected(e) => Some(e.usage_occurred_at),
            LedgerEvent::UsageVoided(e) => Some(e.usage_occurred_at),
            LedgerEvent::InvoicePeriodOpened(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoiceFinalized(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoiceVoided(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoicePaid(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoicePaymentFailed(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoicePublishedToStripe(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoiceFinalizedInStripe(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoicePaymentActionRequired(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoiceMarkedUncollectible(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoiceVoidedInStripe(e) => Some(e.invoice.period_start),
            LedgerEvent::InvoiceRefundRecorded(e) => Some(e.invoice.period_start),
            LedgerEvent::OrganizationCreated(_)
            | LedgerEvent::SubscriptionStarted(_)
            | LedgerEvent::SubscriptionChanged(_)
            | LedgerEvent::SubscriptionCancelled(_)
            | LedgerEvent::PriceSet(_)
            | LedgerEvent::UsageRecorded(_)
            | LedgerEvent::ChargeAdded(_)
            | LedgerEvent::CreditGranted(_)
            | LedgerEvent::BudgetSet(_)
            | LedgerEvent::AlertTriggered(_)
            | LedgerEvent::AlertResolved(_)
            | LedgerEvent::StripeEventUnmatched(_) => None,
        };
        let mut touched: Vec<DateTime<Utc>> = [Some(occurred_at), named]
            .into_iter()
            .flatten()
            .map(|at| self.period_of(at).start)
            .filter(|start| self.archived.contains_key(start))
            .collect();
        touched.dedup();
        touched
    }

    /// Whether any closed period is compacted out of this state.
    pub fn has_archived(&self) -> bool {
        !self.archived.is_empty()
    }

    /// Put a compacted period back (before folding an event that concerns
    /// it). A period this book does not list as compacted is ignored.
    pub fn restore(&mut self, closed: ClosedPeriod) {
        let start = closed.period_start();
        if self.archived.remove(&start).is_some() {
            self.periods.insert(start, closed.0);
        }
    }

    /// Fold one event of this organization (`decoded` is `event.decode()`;
    /// `catalog` holds every `PriceSet` before `event`). Returns the
    /// invoices whose content changed. Events of other organizations and
    /// events at or below [`OrgBook::last_position`] change nothing.
    ///
    /// Fails with [`FoldError::AmountOutOfRange`] when the event closes an
    /// invoice whose amounts are out of range; the book must then be set
    /// aside (the organization cannot be billed until its usage or prices
    /// are corrected), not folded on.
    pub fn apply(
        &mut self,
        catalog: &Catalog,
        event: &RecordedEvent,
        decoded: &LedgerEvent,
    ) -> Result<Vec<InvoiceKey>, FoldError> {
        if decoded.org_id() != Some(&self.org_id) || event.global_position <= self.last_position {
            return Ok(Vec::new());
        }
        if let Some(period_start) = self.archived_touched(event.occurred_at, decoded).first() {
            return Err(FoldError::PeriodNotRestored {
                org_id: self.org_id.clone(),
                period_start: *period_start,
                position: event.global_position,
            });
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
            )?,
            LedgerEvent::InvoiceVoided(e) => {
                self.close(e.invoice.period_start, InvoiceStatus::Void, &mut changed)?
            }
            LedgerEvent::InvoicePaid(e) => {
                self.close(e.invoice.period_start, InvoiceStatus::Paid, &mut changed)?;
                self.record_payment(e.invoice.period_start, &mut changed, |f| f.paid(e.paid_at));
            }
            LedgerEvent::InvoicePaymentFailed(e) => {
                let failure = Failure {
                    at: e.failed_at,
                    event: e.stripe_event_id.clone().unwrap_or_default(),
                    reason: e.reason.clone(),
                    next_attempt: e.next_payment_attempt,
                };
                self.record_payment(e.invoice.period_start, &mut changed, |f| f.failed(failure));
            }
            LedgerEvent::InvoicePaymentActionRequired(e) => {
                let failure = Failure {
                    at: Some(e.at),
                    event: e.stripe_event_id.clone(),
                    reason: "payment_action_required: the customer must authenticate the payment"
                        .to_owned(),
                    next_attempt: e.next_payment_attempt,
                };
                self.record_payment(e.invoice.period_start, &mut changed, |f| f.failed(failure));
            }
            LedgerEvent::InvoiceMarkedUncollectible(e) => {
                self.record_payment(e.invoice.period_start, &mut changed, |f| {
                    f.uncollectible = true
                });
            }
            LedgerEvent::InvoiceVoidedInStripe(e) => {
                self.record_payment(e.invoice.period_start, &mut changed, |f| f.voided = true);
            }
            LedgerEvent::InvoiceRefundRecorded(_) | LedgerEvent::StripeEventUnmatched(_) => {}
            LedgerEvent::InvoicePublishedToStripe(_)
            | LedgerEvent::InvoiceFinalizedInStripe(_)
            | LedgerEvent::OrganizationCreated(_)
            | LedgerEvent::PriceSet(_)
            | LedgerEvent::BudgetSet(_)
            | LedgerEvent::AlertTriggered(_)
            | LedgerEvent::AlertResolved(_) => {}
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
        Ok(keys)
    }

    /// Merge a payment fact into an existing invoice; the invoice changed
    /// if what a read shows of its payment did.
    fn record_payment(
        &mut self,
        period_start: DateTime<Utc>,
        changed: &mut Changed,
        fact: impl FnOnce(&mut PaymentFacts),
    ) {
        let start = self.period_of(period_start).start;
        if let Some(pb) = self.periods.get_mut(&start) {
            let before = pb.payment.view(pb.status);
            fact(&mut pb.payment);
            if pb.payment.view(pb.status) != before {
                changed.insert(start);
            }
        }
    }

    /// The period containing `at` for this organization.
    pub(crate) fn period_of(&self, at: DateTime<Utc>) -> Period {
        // Most events fall in a period that already has an invoice.
        if let Some((_, pb)) = self.periods.range(..=at).next_back() {
            if pb.period.contains(at) {
                return pb.period;
            }
        }
        if let Some((_, period)) = self.archived.range(..=at).next_back() {
            if period.contains(at) {
                return *period;
            }
        }
        period_containing(self.billing_anchor, at)
    }

    /// Create the invoice of `period` if it does not exist yet (a
    /// compacted period exists, closed).
    pub(crate) fn ensure_period(&mut self, period: Period, changed: &mut Changed) {
        if self.archived.contains_key(&period.start) {
            return;
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = self.periods.entry(period.start) {
            slot.insert(PeriodBook::new(period));
            changed.insert(period.start);
        }
    }

    pub(crate) fn is_closed(&self, start: DateTime<Utc>) -> bool {
        self.archived.contains_key(&start)
            || self.periods.get(&start).is_some_and(|pb| !pb.is_open())
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
            .map(|pb| pb.period)
            .chain(self.archived.values().copied())
            .max_by_key(|p| p.start)
            .unwrap_or_else(|| self.period_of(start));
        let next = next_period(self.billing_anchor, &latest);
        self.ensure_period(next, changed);
        next.start
    }

    /// The invoice of the period starting at `period_start`, as it stands;
    /// [`FoldError::AmountOutOfRange`] if one of its amounts is out of range.
    /// The start of every period this book holds, in order.
    pub fn period_starts(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.periods.keys().copied()
    }

    pub fn invoice(&self, period_start: DateTime<Utc>) -> Result<Option<Invoice>, FoldError> {
        self.periods
            .get(&period_start)
            .map(|pb| self.invoice_of(pb))
            .transpose()
    }

    /// Every invoice of the organization, by period start (an error if any
    /// of them has an amount out of range).
    pub fn invoices(&self) -> Result<Vec<Invoice>, FoldError> {
        self.periods
            .values()
            .map(|pb| self.invoice_of(pb))
            .collect()
    }

    fn invoice_of(&self, pb: &PeriodBook) -> Result<Invoice, FoldError> {
        let mut invoice = match &pb.frozen {
            Some(frozen) => frozen.clone(),
            None => render(self, pb)?.invoice,
        };
        invoice.status = pb.status;
        let payment = pb.payment.view(pb.status);
        invoice.payment_failed = match payment.status {
            PaymentStatus::PaymentFailed => payment.last_failure.clone(),
            _ => None,
        };
        invoice.payment_status = payment.status;
        invoice.paid_at = payment.paid_at;
        invoice.last_payment_failure = payment.last_failure;
        invoice.next_payment_attempt = payment.next_attempt;
        invoice.version = pb.version;
        invoice.position = pb.position;
        Ok(invoice)
    }
}
