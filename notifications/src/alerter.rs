//! The alerter: budget thresholds crossed by spend or forecast, recorded as
//! ledger facts.
//!
//! After each projection batch it reads the Open invoices that changed
//! (after its cursor in the invoice change feed), and for each organization
//! with a budget compares the invoice's total (`actual`) and its month-end
//! forecast (`projected`) with every threshold of the budget in force:
//! - reached and not active (never triggered, or resolved since) →
//!   `AlertTriggered` with the next crossing number;
//! - below again while active (a correction, a void, a credit) →
//!   `AlertResolved` of that crossing.
//!
//! Each fact's idempotency key is (fact, organization, period, budget
//! version, threshold, kind, crossing), so it is appended at most once
//! whatever re-reads, restarts or second alerters happen, and a threshold
//! crossed again after a resolve alerts again. The decision ([`decide`])
//! is pure; [`Alerter::step`] feeds it and appends.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ledger::db::Database;
use ledger::event::{alert_key, AlertKind, AlertResolved, AlertTriggered, BudgetSet};
use ledger::{EventMetadata, EventStore, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use projections::budget::{levels, reached};
use projections::fold::{Invoice, InvoiceStatus};
use projections::ProjectionTables;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

use crate::cursor::{self, ALERTER, ALERTER_BUDGETS};
use crate::{millis, NotifyError};

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read `invoices` changed invoices and appended `appended` new facts.
    Worked { invoices: usize, appended: usize },
    /// Nothing changed after the cursor.
    Idle,
}

/// One alert's identity: (period start, budget version, threshold label,
/// kind).
pub type AlertId = (DateTime<Utc>, i64, String, AlertKind);

/// Which alerts an organization already has: for each alert, how many
/// times it triggered and how many of those resolved. It is active (spend
/// at or over the threshold as last recorded) when it triggered more
/// often than it resolved.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub crossings: BTreeMap<AlertId, Crossings>,
}

/// Triggers and resolves of one alert so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crossings {
    pub triggered: u32,
    pub resolved: u32,
    /// The newest invoice version a fact of this alert was decided on: an
    /// older one (a second alerter's stale read) decides nothing.
    pub invoice_version: i64,
}

impl Crossings {
    pub fn active(self) -> bool {
        self.triggered > self.resolved
    }
}

impl History {
    /// Fold an organization's alert facts (in stream order). Counting, not
    /// reading `crossing`, keeps facts recorded before it existed right.
    pub fn record(&mut self, event: &LedgerEvent) {
        match event {
            LedgerEvent::AlertTriggered(a) => {
                let id = (
                    a.period_start,
                    a.budget_version,
                    a.threshold.label(),
                    a.kind,
                );
                let c = self.crossings.entry(id).or_default();
                c.triggered = c.triggered.max(a.crossing).max(c.triggered + 1);
                c.invoice_version = c.invoice_version.max(a.invoice_version);
            }
            LedgerEvent::AlertResolved(a) => {
                let id = (
                    a.period_start,
                    a.budget_version,
                    a.threshold.label(),
                    a.kind,
                );
                let c = self.crossings.entry(id).or_default();
                c.resolved = c.resolved.max(a.crossing).max(c.resolved + 1);
                c.invoice_version = c.invoice_version.max(a.invoice_version);
            }
            _ => {}
        }
    }

    /// The alert's crossings so far.
    pub fn of(&self, id: &AlertId) -> Crossings {
        self.crossings.get(id).copied().unwrap_or_default()
    }
}

/// The facts to append for `invoice` (an Open invoice) under `budget`,
/// given its forecast total and the alerts already recorded; each with its
/// idempotency key. Pure. A threshold reached while its alert is not
/// active triggers (crossing n + 1); one left while active resolves
/// (crossing n): cross, resolve, cross again gives triggered, resolved,
/// triggered, each exactly once.
pub fn decide(
    invoice: &Invoice,
    forecast: Option<Decimal>,
    budget: &BudgetSet,
    history: &History,
) -> Vec<(LedgerEvent, String)> {
    let mut facts = Vec::new();
    if invoice.status != InvoiceStatus::Open || budget.currency != invoice.currency {
        return facts;
    }
    let spend = invoice.total;
    let forecast_total = forecast.unwrap_or(spend);
    for level in levels(budget) {
        for (kind, value) in [
            (AlertKind::Actual, Some(spend)),
            (AlertKind::Projected, forecast),
        ] {
            let Some(value) = value else { continue };
            let id = (
                invoice.period_start,
                budget.version,
                level.threshold.label(),
                kind,
            );
            let crossings = history.of(&id);
            if invoice.version < crossings.invoice_version {
                continue;
            }
            let key = |fact: &str, crossing: u32| {
                alert_key(
                    fact,
                    &invoice.org_id,
                    invoice.period_start,
                    budget.version,
                    &level.threshold,
                    kind,
                    crossing,
                )
            };
            if reached(value, &level) && !crossings.active() {
                let crossing = crossings.triggered + 1;
                let event = LedgerEvent::AlertTriggered(AlertTriggered {
                    org_id: invoice.org_id.clone(),
                    period_start: invoice.period_start,
                    period_end: invoice.period_end,
                    kind,
                    budget_version: budget.version,
                    budget_amount: budget.amount,
                    currency: budget.currency,
                    threshold: level.threshold,
                    threshold_amount: level.amount,
                    spend,
                    forecast: forecast_total,
                    invoice_version: invoice.version,
                    crossing,
                });
                facts.push((event, key("triggered", crossing)));
            } else if !reached(value, &level) && crossings.active() {
                let crossing = crossings.triggered;
                let event = LedgerEvent::AlertResolved(AlertResolved {
                    org_id: invoice.org_id.clone(),
                    period_start: invoice.period_start,
                    kind,
                    budget_version: budget.version,
                    threshold: level.threshold,
                    threshold_amount: level.amount,
                    spend,
                    forecast: forecast_total,
                    invoice_version: invoice.version,
                    crossing,
                });
                facts.push((event, key("resolved", crossing)));
            }
        }
    }
    facts
}

/// Most changed invoices read per step.
const BATCH: u32 = 500;

/// What a page of the invoice change feed (ascending by position, read
/// with `limit`) lets a step do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageEnd {
    /// Nothing changed.
    Empty,
    /// Handle the invoices at or below this position and move the cursor
    /// to it. A full page may have cut through the invoices sharing its
    /// last position (one event, such as a back-dated price, changes many
    /// invoices at one position), so it stops one short of that position,
    /// which the next step reads again whole.
    Through(i64),
    /// A full page all at one position: it may not hold every invoice of
    /// that position, and stopping short would not move; read it again
    /// with a larger limit.
    Grow,
}

/// See [`PageEnd`]; `positions` are the page's invoices' positions, in
/// the feed's order. Pure.
pub fn page_end(positions: &[i64], limit: u32) -> PageEnd {
    let (Some(first), Some(last)) = (positions.first(), positions.last()) else {
        return PageEnd::Empty;
    };
    let full = u32::try_from(positions.len()).map_or(true, |n| n >= limit);
    if !full {
        PageEnd::Through(*last)
    } else if first == last {
        PageEnd::Grow
    } else {
        PageEnd::Through(last - 1)
    }
}

/// The alerter over one database.
#[derive(Clone)]
pub struct Alerter {
    db: Database,
    store: Arc<dyn EventStore>,
    tables: Arc<dyn ProjectionTables>,
    batch: u32,
}

impl Alerter {
    pub fn new(db: &Database) -> Self {
        Self {
            db: db.clone(),
            store: db.event_store(),
            tables: projections::tables_for(db),
            batch: BATCH,
        }
    }

    /// Read pages of `batch` changed invoices or events (tests use small ones).
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Every alert fact of `org` so far.
    async fn history(&self, org: &OrgId) -> Result<History, NotifyError> {
        let stream = StreamId::alerts(org);
        let mut history = History::default();
        let mut version = 1;
        loop {
            let page = self.store.read_stream(&stream, version, 1_000).await?;
            let Some(last) = page.last() else { break };
            version = last.stream_version + 1;
            for event in &page {
                history.record(&event.decode().map_err(|e| {
                    NotifyError::Corrupt(format!("alert event {}: {e}", event.event_id))
                })?);
            }
        }
        Ok(history)
    }

    /// Forecast totals of `invoices` (one organization's) as of `now`.
    async fn forecasts(
        &self,
        org: &OrgId,
        invoices: &[&Invoice],
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<DateTime<Utc>, Decimal>, NotifyError> {
        let mut out = BTreeMap::new();
        if let Some(book) = projections::budget::live_book(self.tables.as_ref(), org).await? {
            for invoice in invoices {
                match book.forecast(invoice.period_start, now) {
                    Ok(Some(f)) => {
                        out.insert(invoice.period_start, f.total);
                    }
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(org_id = %org, error = %err, "no forecast for alerts")
                    }
                }
            }
        }
        Ok(out)
    }

    /// Compare `org`'s Open `invoices` with its budget in force and append
    /// what they trigger or resolve; returns how many facts were new.
    async fn evaluate(
        &self,
        org: &OrgId,
        invoices: &[&Invoice],
        now: DateTime<Utc>,
    ) -> Result<usize, NotifyError> {
        let Some((budget, _)) = projections::budget::latest(self.store.as_ref(), org).await? else {
            return Ok(0);
        };
        let history = self.history(org).await?;
        let forecasts = self.forecasts(org, invoices, now).await?;
        let mut events = Vec::new();
        for invoice in invoices {
            let forecast = forecasts.get(&invoice.period_start).copied();
            for (event, key) in decide(invoice, forecast, &budget, &history) {
                let new = NewEvent::from_domain(&event, now)?
                    .with_metadata(EventMetadata {
                        actor: Some("alerter".into()),
                        source: Some("alerter".into()),
                        correlation_id: None,
                        causation_id: None,
                    })
                    .with_idempotency_key(key);
                events.push(new);
            }
        }
        if events.is_empty() {
            return Ok(0);
        }
        let outcome = self
            .store
            .append(&StreamId::alerts(org), ExpectedVersion::Any, events)
            .await?;
        Ok(outcome.results.iter().filter(|r| !r.is_duplicate()).count())
    }

    /// Read one page of the invoice change feed and of the budget events,
    /// append what they trigger or resolve, then move each cursor past
    /// what it read.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<Outcome, NotifyError> {
        let invoices = self.invoice_step(now).await?;
        let budgets = self.budget_step(now).await?;
        Ok(match (invoices, budgets) {
            (None, None) => Outcome::Idle,
            (a, b) => {
                let (ia, aa) = a.unwrap_or_default();
                let (ib, ab) = b.unwrap_or_default();
                Outcome::Worked {
                    invoices: ia + ib,
                    appended: aa + ab,
                }
            }
        })
    }

    /// The page of the invoice change feed after the `alerter` cursor:
    /// (invoices read, facts appended), `None` if nothing changed.
    async fn invoice_step(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<(usize, usize)>, NotifyError> {
        let after = cursor::position(&self.db, ALERTER).await?;
        let mut limit = self.batch;
        let (invoices, to) = loop {
            let (invoices, _) = self.tables.changed_invoices(after, limit).await?;
            let positions: Vec<i64> = invoices.iter().map(|i| i.position).collect();
            match page_end(&positions, limit) {
                PageEnd::Empty => return Ok(None),
                PageEnd::Through(to) => break (invoices, to),
                PageEnd::Grow => limit = limit.saturating_mul(2),
            }
        };
        let mut by_org: BTreeMap<&OrgId, Vec<&Invoice>> = BTreeMap::new();
        for invoice in invoices.iter().filter(|i| i.position <= to) {
            if invoice.status == InvoiceStatus::Open {
                by_org.entry(&invoice.org_id).or_default().push(invoice);
            }
        }
        let mut appended = 0;
        for (org, invoices) in by_org {
            appended += self.evaluate(org, &invoices, now).await?;
        }
        let mut tx = self.db.begin_write().await?;
        cursor::advance(&mut tx, ALERTER, to, millis(now)).await?;
        tx.commit().await?;
        Ok(Some((
            invoices.iter().filter(|i| i.position <= to).count(),
            appended,
        )))
    }

    /// The page of events after the `alerter_budgets` cursor: every
    /// organization given a new budget version there has its Open invoices
    /// evaluated against it now, without waiting for its next invoice
    /// change. (invoices evaluated, facts appended), `None` if no event.
    async fn budget_step(&self, now: DateTime<Utc>) -> Result<Option<(usize, usize)>, NotifyError> {
        let after = cursor::position(&self.db, ALERTER_BUDGETS).await?;
        let page = self.store.read_all(after, self.batch).await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        let mut orgs = BTreeSet::new();
        for event in page.iter().filter(|e| e.event_type == "BudgetSet") {
            match event.decode() {
                Ok(LedgerEvent::BudgetSet(budget)) => {
                    orgs.insert(budget.org_id);
                }
                Ok(_) | Err(_) => {
                    return Err(NotifyError::Corrupt(format!(
                        "event {} is not a readable BudgetSet",
                        event.event_id
                    )))
                }
            }
        }
        let (mut evaluated, mut appended) = (0, 0);
        for org in &orgs {
            let invoices = self.tables.org_invoices(org).await?;
            let open: Vec<&Invoice> = invoices
                .iter()
                .filter(|i| i.status == InvoiceStatus::Open)
                .collect();
            evaluated += open.len();
            appended += self.evaluate(org, &open, now).await?;
        }
        let mut tx = self.db.begin_write().await?;
        cursor::advance(&mut tx, ALERTER_BUDGETS, last.global_position, millis(now)).await?;
        tx.commit().await?;
        Ok(Some((evaluated, appended)))
    }

    /// Step until idle; returns how many facts were appended.
    pub async fn run_until_idle(&self, now: DateTime<Utc>) -> Result<usize, NotifyError> {
        let mut appended = 0;
        while let Outcome::Worked { appended: n, .. } = self.step(now).await? {
            appended += n;
        }
        Ok(appended)
    }

    /// Step every `poll` until `shutdown`.
    pub async fn run(self, poll: Duration, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let idle = match self.step(Utc::now()).await {
                Ok(Outcome::Worked { appended, .. }) => {
                    if appended > 0 {
                        tracing::info!(appended, "budget alerts recorded");
                    }
                    false
                }
                Ok(Outcome::Idle) => true,
                Err(err) => {
                    tracing::error!(error = %err, "alerter step failed; retrying");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_that_is_not_full_is_handled_whole() {
        assert_eq!(page_end(&[], 3), PageEnd::Empty);
        assert_eq!(page_end(&[4, 7], 3), PageEnd::Through(7));
        assert_eq!(page_end(&[7, 7], 3), PageEnd::Through(7));
    }

    #[test]
    fn a_full_page_stops_before_its_last_position_which_may_go_on() {
        // Invoices at 9 may continue on the next page: stop at 8.
        assert_eq!(page_end(&[4, 9, 9], 3), PageEnd::Through(8));
        assert_eq!(page_end(&[4, 7, 9], 3), PageEnd::Through(8));
    }

    #[test]
    fn a_full_page_of_one_position_is_read_again_larger() {
        assert_eq!(page_end(&[9, 9, 9], 3), PageEnd::Grow);
    }
}
