//! What Stripe told us about an invoice's payment, folded so that the
//! order in which the facts arrive does not matter.
//!
//! Stripe does not order webhook deliveries, and the catch-up poller may
//! bring an old event after a newer one. So the facts are kept as a set
//! whose merge is commutative and idempotent, and the payment status is a
//! function of that set — the **precedence rule** (docs/payments.md):
//!
//! `paid` > `void` > `uncollectible` > `payment_failed` > `unpaid`
//!
//! A paid invoice is paid whatever else arrives (it never becomes unpaid
//! or failed); void and uncollectible outrank failures; the last failure
//! shown is the one Stripe created last (event time, then event id), not
//! the one that arrived last. A ledger void (`InvoiceVoided`) counts as
//! void, a ledger `Paid` status as paid.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::invoice::InvoiceStatus;

/// An invoice's payment status, as Stripe reported it.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Nothing reported yet (or still open).
    #[default]
    Unpaid,
    /// The last attempt failed (or needs the customer's action); Stripe may
    /// retry (`next_payment_attempt`).
    PaymentFailed,
    /// Written off in Stripe.
    Uncollectible,
    /// Voided (in Stripe or by the ledger).
    Void,
    /// Paid: final.
    Paid,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unpaid => "unpaid",
            Self::PaymentFailed => "payment_failed",
            Self::Uncollectible => "uncollectible",
            Self::Void => "void",
            Self::Paid => "paid",
        }
    }
}

/// One failed attempt (or a required action), as Stripe described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Failure {
    /// When Stripe created the event (`None` for facts recorded before
    /// issue 12, which sort first).
    pub at: Option<DateTime<Utc>>,
    /// The Stripe event id (tie-breaker; empty if unknown).
    pub event: String,
    pub reason: String,
    pub next_attempt: Option<DateTime<Utc>>,
}

impl Failure {
    fn rank(&self) -> (Option<DateTime<Utc>>, &str, &str) {
        (self.at, self.event.as_str(), self.reason.as_str())
    }
}

/// Every payment fact folded for one invoice; merged commutatively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PaymentFacts {
    /// Paid at all; `paid_at` is the earliest time any paid fact names.
    #[serde(default)]
    pub paid: bool,
    #[serde(default)]
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub voided: bool,
    #[serde(default)]
    pub uncollectible: bool,
    /// The latest failure by Stripe's clock.
    #[serde(default)]
    pub last_failure: Option<Failure>,
    /// Decline reasons read from the attempts' PaymentIntents, by the
    /// `invoice.payment_failed` event they explain (issue 12, round 3). Kept
    /// whichever arrives first; shown for the failure they name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub declines: BTreeMap<String, String>,
}

/// What an invoice read shows of its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentView {
    pub status: PaymentStatus,
    pub paid_at: Option<DateTime<Utc>>,
    pub last_failure: Option<String>,
    pub next_attempt: Option<DateTime<Utc>>,
}

impl PaymentFacts {
    pub fn paid(&mut self, at: Option<DateTime<Utc>>) {
        self.paid = true;
        self.paid_at = match (self.paid_at, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn failed(&mut self, failure: Failure) {
        let newer = match &self.last_failure {
            Some(old) => failure.rank() > old.rank(),
            None => true,
        };
        if newer {
            self.last_failure = Some(failure);
        }
    }

    /// The decline reason Stripe keeps on the PaymentIntent for the failure
    /// event `event`; commutes with [`PaymentFacts::failed`]. The first one
    /// recorded for an event stays (a repeat of the same fact changes nothing).
    pub fn declined(&mut self, event: &str, reason: String) {
        self.declines.entry(event.to_owned()).or_insert(reason);
    }

    /// The precedence rule (see the module documentation).
    pub fn view(&self, status: InvoiceStatus) -> PaymentView {
        let payment = if self.paid || status == InvoiceStatus::Paid {
            PaymentStatus::Paid
        } else if self.voided || status == InvoiceStatus::Void {
            PaymentStatus::Void
        } else if self.uncollectible {
            PaymentStatus::Uncollectible
        } else if self.last_failure.is_some() {
            PaymentStatus::PaymentFailed
        } else {
            PaymentStatus::Unpaid
        };
        PaymentView {
            status: payment,
            paid_at: self.paid_at.filter(|_| payment == PaymentStatus::Paid),
            last_failure: self.last_failure.as_ref().map(|f| {
                self.declines
                    .get(&f.event)
                    .filter(|_| !f.event.is_empty())
                    .unwrap_or(&f.reason)
                    .clone()
            }),
            next_attempt: self
                .last_failure
                .as_ref()
                .and_then(|f| f.next_attempt)
                .filter(|_| payment == PaymentStatus::PaymentFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(s.parse().unwrap())
    }

    fn failure(t: &str, id: &str, reason: &str) -> Failure {
        Failure {
            at: at(t),
            event: id.into(),
            reason: reason.into(),
            next_attempt: at("2026-05-01T00:00:00Z"),
        }
    }

    type Fact = fn(&mut PaymentFacts);

    fn facts() -> Vec<(&'static str, Fact)> {
        vec![
            ("paid", |f| f.paid(at("2026-04-03T00:00:00Z"))),
            ("failed-1", |f| {
                f.failed(failure("2026-04-01T00:00:00Z", "evt_1", "card_declined"))
            }),
            ("failed-2", |f| {
                f.failed(failure(
                    "2026-04-02T00:00:00Z",
                    "evt_2",
                    "insufficient_funds",
                ))
            }),
            ("uncollectible", |f| f.uncollectible = true),
        ]
    }

    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut all = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            for mut p in permutations(&rest) {
                p.insert(0, first.clone());
                all.push(p);
            }
        }
        all
    }

    #[test]
    fn every_arrival_order_gives_the_same_payment_view() {
        let facts = facts();
        let mut views = Vec::new();
        for order in permutations(&facts) {
            let mut f = PaymentFacts::default();
            for (_, fact) in &order {
                fact(&mut f);
                // Redelivery changes nothing either.
                fact(&mut f);
            }
            views.push(f.view(InvoiceStatus::Finalized));
        }
        assert_eq!(views.len(), 24);
        assert!(views.iter().all(|v| *v == views[0]));
        assert_eq!(views[0].status, PaymentStatus::Paid);
        assert_eq!(views[0].paid_at, at("2026-04-03T00:00:00Z"));
        assert_eq!(views[0].last_failure.as_deref(), Some("insufficient_funds"));
        assert_eq!(views[0].next_attempt, None);
    }

    #[test]
    fn a_failure_that_arrives_after_paid_never_makes_the_invoice_unpaid_or_failed() {
        let mut f = PaymentFacts::default();
        f.paid(None);
        f.failed(failure("2026-04-09T00:00:00Z", "evt_9", "card_declined"));
        assert_eq!(f.view(InvoiceStatus::Paid).status, PaymentStatus::Paid);
        assert_eq!(f.view(InvoiceStatus::Finalized).status, PaymentStatus::Paid);
    }

    #[test]
    fn the_precedence_is_paid_void_uncollectible_failed_unpaid() {
        let mut f = PaymentFacts::default();
        assert_eq!(
            f.view(InvoiceStatus::Finalized).status,
            PaymentStatus::Unpaid
        );
        f.failed(failure("2026-04-01T00:00:00Z", "evt_1", "card_declined"));
        let failed = f.view(InvoiceStatus::Finalized);
        assert_eq!(failed.status, PaymentStatus::PaymentFailed);
        assert_eq!(failed.next_attempt, at("2026-05-01T00:00:00Z"));
        f.uncollectible = true;
        assert_eq!(
            f.view(InvoiceStatus::Finalized).status,
            PaymentStatus::Uncollectible
        );
        f.voided = true;
        assert_eq!(f.view(InvoiceStatus::Finalized).status, PaymentStatus::Void);
        f.paid(None);
        assert_eq!(f.view(InvoiceStatus::Finalized).status, PaymentStatus::Paid);
    }

    #[test]
    fn the_latest_failure_by_stripes_clock_wins_whatever_the_arrival_order() {
        let mut f = PaymentFacts::default();
        f.failed(failure(
            "2026-04-02T00:00:00Z",
            "evt_2",
            "insufficient_funds",
        ));
        f.failed(failure("2026-04-01T00:00:00Z", "evt_1", "card_declined"));
        assert_eq!(
            f.view(InvoiceStatus::Finalized).last_failure.as_deref(),
            Some("insufficient_funds")
        );
    }

    #[test]
    fn the_decline_reason_of_the_latest_failure_shows_whichever_fact_arrived_first() {
        let failed_1 = |f: &mut PaymentFacts| {
            f.failed(failure(
                "2026-04-01T00:00:00Z",
                "evt_1",
                "payment attempt 1 failed",
            ))
        };
        let failed_2 = |f: &mut PaymentFacts| {
            f.failed(failure(
                "2026-04-02T00:00:00Z",
                "evt_2",
                "payment attempt 2 failed",
            ))
        };
        let declined_1 = |f: &mut PaymentFacts| f.declined("evt_1", "card_declined".into());
        let declined_2 = |f: &mut PaymentFacts| f.declined("evt_2", "insufficient_funds".into());
        let facts: Vec<Fact> = vec![failed_1, failed_2, declined_1, declined_2];
        for order in permutations(&facts) {
            let mut f = PaymentFacts::default();
            for fact in &order {
                fact(&mut f);
                fact(&mut f);
            }
            let view = f.view(InvoiceStatus::Finalized);
            assert_eq!(view.status, PaymentStatus::PaymentFailed);
            assert_eq!(view.last_failure.as_deref(), Some("insufficient_funds"));
        }
        // Only the failure's own description while its decline is unknown; an
        // older attempt's decline does not stand in for it.
        let mut f = PaymentFacts::default();
        declined_1(&mut f);
        failed_2(&mut f);
        failed_1(&mut f);
        assert_eq!(
            f.view(InvoiceStatus::Finalized).last_failure.as_deref(),
            Some("payment attempt 2 failed")
        );
        // A decline alone is no failure.
        let mut f = PaymentFacts::default();
        declined_2(&mut f);
        assert_eq!(
            f.view(InvoiceStatus::Finalized).status,
            PaymentStatus::Unpaid
        );
    }

    #[test]
    fn a_ledger_void_reads_as_void() {
        let f = PaymentFacts::default();
        assert_eq!(f.view(InvoiceStatus::Void).status, PaymentStatus::Void);
    }
}
