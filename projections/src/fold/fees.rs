//! Recurring plan fees, prorated by whole UTC days.
//!
//! Rules:
//! - Each subscription keeps its timeline of starts, changes and
//!   cancellations (by `effective_at`, ties in event order).
//! - A period of `D` UTC days bills each day at the plan in effect at the
//!   end of that day, i.e. every `effective_at` is floored to the start of
//!   its UTC day: a subscription started or changed at any time on a day
//!   pays that whole day at the new fee; a cancellation stops billing from
//!   the start of its day (the cancellation day is not billed).
//! - A run of `n` days at one plan is one line: `monthly_fee × n / D`,
//!   unrounded, then rounded once. A whole period bills the monthly fee.
//! - A `SubscriptionChanged` without a prior start starts the subscription;
//!   a cancellation of an unknown subscription changes nothing.
//! - A subscription event creates the invoice of the period containing its
//!   `effective_at` (unless that period is closed) and reprices the fee
//!   lines of every open invoice. Closed invoices are never re-prorated: a
//!   back-dated change into a closed period does not adjust it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::book::{Changed, OrgBook};
use super::format;
use super::invoice::{InvoiceLine, LineKind, LineSource, Proration};
use crate::period::Period;
use crate::pricing::Sat;

/// One point on a subscription's timeline: the plan from `effective_at`
/// on, or `None` once cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SubChange {
    pub effective_at: DateTime<Utc>,
    pub position: i64,
    /// (plan name, monthly fee).
    pub terms: Option<(String, Decimal)>,
}

impl OrgBook {
    pub(crate) fn fold_subscription(
        &mut self,
        subscription_id: &str,
        effective_at: DateTime<Utc>,
        terms: Option<(String, Decimal)>,
        position: i64,
        changed: &mut Changed,
    ) {
        let known = self.subscriptions.contains_key(subscription_id);
        if terms.is_none() && !known {
            return;
        }
        let timeline = self
            .subscriptions
            .entry(subscription_id.to_owned())
            .or_default();
        let at = timeline.partition_point(|c| c.effective_at <= effective_at);
        timeline.insert(
            at,
            SubChange {
                effective_at,
                position,
                terms,
            },
        );
        let period = self.period_of(effective_at);
        if !self.is_closed(period.start) {
            self.ensure_period(period, changed);
        }
    }

    /// The fee lines of `period`, by subscription id then first day.
    pub(crate) fn fee_lines(&self, period: &Period) -> Vec<InvoiceLine> {
        let days = period.days();
        let mut lines = Vec::new();
        if days <= 0 {
            return lines;
        }
        for (subscription_id, timeline) in &self.subscriptions {
            // (first day, plan in effect from that day)
            let mut runs: Vec<(i64, Option<&(String, Decimal)>)> = vec![(0, None)];
            for change in timeline {
                let day = period.day_index(change.effective_at);
                match runs.last_mut() {
                    Some(last) if last.0 == day => last.1 = change.terms.as_ref(),
                    _ => runs.push((day, change.terms.as_ref())),
                }
            }
            for (i, (first, terms)) in runs.iter().enumerate() {
                let end = runs.get(i + 1).map_or(days, |next| next.0).min(days);
                let (Some((plan, fee)), true) = (terms, end > *first) else {
                    continue;
                };
                lines.push(self.fee_line(subscription_id, plan, *fee, period, *first, end));
            }
        }
        lines
    }

    fn fee_line(
        &self,
        subscription_id: &str,
        plan: &str,
        fee: Decimal,
        period: &Period,
        first: i64,
        end: i64,
    ) -> InvoiceLine {
        let days = period.days();
        let billed = end - first;
        let mut sat = Sat::default();
        let unrounded = sat
            .mul(fee, Decimal::from(billed))
            .checked_div(Decimal::from(days))
            .unwrap_or(fee);
        let from = period.day_start(first);
        let last = period.day_start(end - 1);
        let fee_text = format::money(self.currency, fee);
        let amount = super::render::round(self.currency, unrounded);
        let days_text = format!("{} – {}", format::day(from), format::day(last));
        let description = if billed == days {
            format!("Plan {plan} ({subscription_id}), {days_text}: {fee_text} per month")
        } else {
            format!(
                "Plan {plan} ({subscription_id}), {days_text}: {fee_text} per month × {billed}/{days} days = {}",
                format::money(self.currency, amount),
            )
        };
        InvoiceLine {
            line_id: format!("fee:{subscription_id}:{}", format::day(from)),
            kind: LineKind::RecurringFee,
            description,
            meter: None,
            price_id: None,
            quantity: Decimal::from(billed),
            unit_price: None,
            amount,
            tiers: Vec::new(),
            unit: Some("day".to_owned()),
            pricing: None,
            proration: Some(Proration {
                plan: plan.to_owned(),
                monthly_fee: fee,
                days_billed: billed,
                days_in_period: days,
                first_day: from,
                last_day: last,
            }),
            adjusts_period_start: None,
            source: LineSource {
                event_types: [
                    "SubscriptionStarted",
                    "SubscriptionChanged",
                    "SubscriptionCancelled",
                ]
                .map(str::to_owned)
                .to_vec(),
                ids: vec![subscription_id.to_owned()],
                ..LineSource::default()
            },
        }
    }
}
