//! The period closer: finalizes every invoice whose period ended more than
//! a grace period ago, and opens the next period.
//!
//! Idempotent and race-safe: the finalize is appended with the invoice
//! stream's expected version (a second closer racing it gets a conflict,
//! re-reads, and sees the period closed) and with an idempotency key (a
//! retried closer stores nothing twice). Finalizing period P and opening
//! P+1 is one atomic append, so a crash can't leave one without the other.

use chrono::{DateTime, Duration, Utc};
use ledger::event::{
    EventMetadata, InvoiceFinalized, InvoiceKey, InvoicePeriodOpened, LedgerEvent,
};
use ledger::{EventStore, ExpectedVersion, NewEvent, OrgId, StoreError, StreamAppend, StreamId};

use crate::period::{next_period, Period};
use crate::runner::ProjectionError;
use crate::tables::{EndedPeriod, ProjectionTables, TableError};
use ledger::db::format_timestamp;

/// Default grace after a period's end before it is finalized: late usage
/// reported within it still lands on its own invoice.
pub const DEFAULT_GRACE: Duration = Duration::hours(1);

/// What one closing pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// Invoices this pass finalized.
    pub finalized: Vec<InvoiceKey>,
    /// Invoices already closed by someone else (the projection lagged).
    pub already_closed: usize,
    /// Invoices this pass could not finalize, with why (recorded for the
    /// ops API; every other invoice was still finalized).
    pub failed: Vec<FailedClose>,
}

/// An invoice a closing pass could not finalize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedClose {
    pub org_id: String,
    /// As stored in the invoice row.
    pub period_start: String,
    pub error: String,
}

/// Finalize every open invoice whose period ended before `now - grace`.
/// Reads candidates from the live projection, so run it after the
/// projection has caught up (the daemon does); a lagging projection only
/// delays closing to the next pass.
pub async fn close_periods(
    store: &dyn EventStore,
    tables: &dyn ProjectionTables,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<CloseReport, ProjectionError> {
    let mut report = CloseReport::default();
    let periods = tables.ended_open_periods(now - grace).await?;
    for unreadable in periods.unreadable {
        report.failed.push(FailedClose {
            org_id: unreadable.org_id,
            period_start: unreadable.period_start,
            error: format!("the invoice row cannot be read: {}", unreadable.error),
        });
    }
    for ended in periods.ended {
        let key = InvoiceKey {
            org_id: ended.org_id.clone(),
            period_start: ended.period_start,
        };
        let period_start = format_timestamp(ended.period_start);
        // One invoice that cannot be closed never stops the others.
        match finalize(store, &ended, now).await {
            Ok(true) => report.finalized.push(key),
            Ok(false) => report.already_closed += 1,
            Err(e) if is_transient(&e) => return Err(e),
            Err(e) => {
                report.failed.push(FailedClose {
                    org_id: ended.org_id.as_str().to_owned(),
                    period_start,
                    error: e.to_string(),
                });
                continue;
            }
        }
        tables
            .clear_close_failure(ended.org_id.as_str(), &period_start)
            .await?;
    }
    for failed in &report.failed {
        tracing::error!(org = %failed.org_id, period_start = %failed.period_start,
            error = %failed.error, "invoice not finalized; every other invoice carries on");
        tables
            .record_close_failure(&failed.org_id, &failed.period_start, &failed.error)
            .await?;
    }
    Ok(report)
}

/// An error that says nothing about the invoice (the database is
/// unreachable or busy): the whole pass is retried rather than blaming it.
fn is_transient(error: &ProjectionError) -> bool {
    let sqlx = match error {
        ProjectionError::Store(StoreError::Database(e)) => e,
        ProjectionError::Tables(TableError::Database(e)) => e,
        ProjectionError::Tables(TableError::Store(StoreError::Database(e))) => e,
        _ => return false,
    };
    matches!(
        sqlx,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Database(_)
    )
}

fn is_closing(event_type: &str) -> bool {
    matches!(event_type, "InvoiceFinalized" | "InvoiceVoided")
}

async fn billing_anchor(
    store: &dyn EventStore,
    org: &OrgId,
) -> Result<DateTime<Utc>, ProjectionError> {
    let first = store
        .read_stream(&StreamId::organization(org), 1, 1)
        .await?;
    match first.first().map(|e| e.decode()) {
        Some(Ok(LedgerEvent::OrganizationCreated(created))) => Ok(created.billing_anchor),
        _ => Err(TableError::Corrupt(format!(
            "organization `{org}` has no OrganizationCreated at the start of its stream"
        ))
        .into()),
    }
}

/// Append the finalize (and the next period's opening). `Ok(false)` when
/// the period was already closed.
async fn finalize(
    store: &dyn EventStore,
    ended: &EndedPeriod,
    now: DateTime<Utc>,
) -> Result<bool, ProjectionError> {
    let key = InvoiceKey {
        org_id: ended.org_id.clone(),
        period_start: ended.period_start,
    };
    let stream = key.stream();
    let anchor = billing_anchor(store, &ended.org_id).await?;
    let next = next_period(
        anchor,
        &Period {
            start: ended.period_start,
            end: ended.period_end,
        },
    );
    let next_key = InvoiceKey {
        org_id: ended.org_id.clone(),
        period_start: next.start,
    };
    let metadata = EventMetadata {
        actor: Some("billing-closer".into()),
        source: Some("close-periods".into()),
        ..EventMetadata::default()
    };
    for _attempt in 0..5 {
        let history = store.read_stream(&stream, 1, 10_000).await?;
        if history.iter().any(|e| is_closing(&e.event_type)) {
            return Ok(false);
        }
        let version = history.last().map_or(0, |e| e.stream_version);
        let finalized = LedgerEvent::InvoiceFinalized(InvoiceFinalized {
            invoice: key.clone(),
            period_end: ended.period_end,
        });
        let opened = LedgerEvent::InvoicePeriodOpened(InvoicePeriodOpened {
            invoice: next_key.clone(),
            period_end: next.end,
        });
        let appends = vec![
            StreamAppend {
                stream_id: stream.clone(),
                expected: ExpectedVersion::Exact(version),
                events: vec![NewEvent::from_domain(&finalized, now)?
                    .with_idempotency_key(format!("invoice-finalized:{stream}"))
                    .with_metadata(metadata.clone())],
            },
            StreamAppend {
                stream_id: next_key.stream(),
                expected: ExpectedVersion::Any,
                events: vec![NewEvent::from_domain(&opened, now)?
                    .with_idempotency_key(format!("invoice-opened:{}", next_key.stream()))
                    .with_metadata(metadata.clone())],
            },
        ];
        match store.append_batch(appends).await {
            Ok(outcomes) => {
                let duplicate = outcomes
                    .first()
                    .and_then(|o| o.results.first())
                    .is_some_and(|r| r.is_duplicate());
                if !duplicate {
                    tracing::info!(org = %key.org_id, period_start = %key.period_start, "invoice finalized");
                }
                return Ok(!duplicate);
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(TableError::Corrupt(format!(
        "invoice stream `{stream}` kept moving while closing it"
    ))
    .into())
}
