//! Support's views: an invoice as it stood at a past moment, and the events
//! behind one invoice line.

use chrono::{DateTime, Utc};
use ledger::store::{AuditQuery, Page};
use ledger::{EventStore, OrgId, RecordedEvent, StreamId};

use crate::fold::{Books, Invoice, LineSource};
use crate::runner::{fold_events, ProjectionError};

/// Which past moment to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Everything up to and including this global position.
    Position(i64),
    /// Everything the ledger had recorded by this time (`recorded_at`).
    Time(DateTime<Utc>),
}

const PAGE: u32 = 5_000;

/// An organization's invoices as they stood `as_of`: the catalog and the
/// org's own events known by then, folded from scratch. Nothing is written.
pub async fn invoices_as_of(
    store: &dyn EventStore,
    org: &OrgId,
    as_of: AsOf,
) -> Result<Vec<Invoice>, ProjectionError> {
    let known = |e: &RecordedEvent| match as_of {
        AsOf::Position(p) => e.global_position <= p,
        AsOf::Time(t) => e.recorded_at <= t,
    };
    let max_position = match as_of {
        AsOf::Position(p) => Some(p),
        AsOf::Time(_) => None,
    };
    let mut events = Vec::new();
    let catalog = StreamId::catalog();
    let mut version = 1;
    loop {
        let page = store.read_stream(&catalog, version, PAGE).await?;
        let Some(last) = page.last() else { break };
        version = last.stream_version + 1;
        events.extend(page.into_iter().filter(|e| known(e)));
    }
    let mut query = AuditQuery {
        org_id: org.as_str().to_owned(),
        max_position,
        limit: PAGE,
        ..AuditQuery::default()
    };
    loop {
        let page = store.read_audit(&query).await?;
        events.extend(page.items.into_iter().filter(|e| known(e)));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    events.sort_by_key(|e| e.global_position);
    let mut books = Books::default();
    fold_events(&mut books, &events)?;
    match books.orgs.get(org) {
        Some(book) => book.invoices().map_err(|source| ProjectionError::Fold {
            position: book.last_position,
            source,
        }),
        None => Ok(Vec::new()),
    }
}

/// The audit query selecting the events a line rests on. Usage
/// corrections and voids carry the corrected usage's `occurred_at` as their
/// own, so one time window covers every usage event type.
pub fn line_query(org: &OrgId, source: &LineSource) -> AuditQuery {
    let mut payload_equals = Vec::new();
    if let Some(meter) = &source.meter {
        payload_equals.push(("meter".to_owned(), vec![meter.clone()]));
    }
    if !source.ids.is_empty() {
        let field = match source.event_types.first().map(String::as_str) {
            Some("ChargeAdded") => "charge_id",
            Some("CreditGranted") => "credit_id",
            _ => "subscription_id",
        };
        payload_equals.push((field.to_owned(), source.ids.clone()));
    }
    AuditQuery {
        org_id: org.as_str().to_owned(),
        event_types: source.event_types.clone(),
        occurred_from: source.occurred_from,
        occurred_to: source.occurred_to,
        min_position: source.after_position,
        max_position: source.up_to_position,
        payload_equals,
        ..AuditQuery::default()
    }
}

/// The events behind one line, oldest first, a page at a time.
pub async fn line_events(
    store: &dyn EventStore,
    org: &OrgId,
    source: &LineSource,
    cursor: Option<i64>,
    limit: u32,
) -> Result<Page<RecordedEvent>, ProjectionError> {
    let mut query = line_query(org, source);
    query.cursor = cursor;
    query.limit = limit;
    Ok(store.read_audit(&query).await?)
}
