//! Rebuild a projection from position 0 into a fresh generation, swap it in
//! atomically, and verify live state against a rebuild (drift detection).
//!
//! Rebuilding is a replay only: the fold is pure, and nothing here can call
//! Stripe or append events — side-effecting handlers live in `sync` and
//! take no part in it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::EventStore;
use sha2::{Digest, Sha256};

use crate::fold::{Books, Invoice};
use crate::runner::{all_orgs, commit_for, InvoiceProjector, Outcome, ProjectionError};
use crate::tables::{ProjectionTables, INVOICES};

/// Events read per page while replaying.
const REPLAY_PAGE: u32 = 10_000;

/// SHA-256 over the canonical serialisation of invoices ordered by (org,
/// period). Identical state gives identical checksums on every backend.
pub fn checksum(invoices: &[Invoice]) -> Result<String, ProjectionError> {
    let mut sorted: Vec<&Invoice> = invoices.iter().collect();
    sorted.sort_by(|a, b| {
        (a.org_id.as_str(), a.period_start).cmp(&(b.org_id.as_str(), b.period_start))
    });
    let mut hasher = Sha256::new();
    for invoice in sorted {
        hasher.update(serde_json::to_vec(invoice)?);
        hasher.update(b"\n");
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Fold replayed events. The fold reads only the position and
/// `occurred_at` of an envelope (besides the typed event), so a replay
/// builds a minimal envelope instead of a full `RecordedEvent`.
pub fn fold_replayed(
    books: &mut Books,
    events: &[ledger::ReplayedEvent],
) -> Result<(), ProjectionError> {
    let mut envelope = ledger::RecordedEvent {
        event_id: uuid::Uuid::nil(),
        stream_id: ledger::StreamId::catalog(),
        stream_version: 0,
        global_position: 0,
        event_type: String::new(),
        schema_version: 1,
        org_id: None,
        payload: serde_json::Value::Null,
        metadata: ledger::EventMetadata::default(),
        occurred_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        recorded_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        idempotency_key: None,
    };
    for e in events {
        envelope.global_position = e.global_position;
        envelope.occurred_at = e.occurred_at;
        books
            .apply_decoded(&envelope, &e.event)
            .map_err(|source| ProjectionError::Fold {
                position: e.global_position,
                source,
            })?;
    }
    Ok(())
}

/// Replay progress: (position reached, head position when the replay began).
pub type Progress<'a> = &'a (dyn Fn(i64, i64) + Send + Sync);

/// Fold every event up to `up_to` (inclusive; `None` = the head when the
/// replay starts) in memory. Returns the books, the last position folded and
/// the number of events. Reading and folding are pipelined: page N is
/// folded on a blocking thread while page N+1 is read and decoded.
pub async fn replay(
    store: &dyn EventStore,
    up_to: Option<i64>,
    progress: Progress<'_>,
) -> Result<(Books, i64, u64), ProjectionError> {
    let head = match up_to {
        Some(p) => p,
        None => store.head_position().await?,
    };
    let mut books = Books::default();
    let (mut position, mut count) = (0, 0u64);
    let page = |after: i64| async move {
        if after >= head {
            return Ok(Vec::new());
        }
        let mut events = store.replay_page(after, REPLAY_PAGE).await?;
        events.retain(|e| e.global_position <= head);
        Ok::<_, ProjectionError>(events)
    };
    let mut events = page(0).await?;
    while let Some(last) = events.last() {
        position = last.global_position;
        count += events.len() as u64;
        let folding = tokio::task::spawn_blocking(move || {
            let folded = fold_replayed(&mut books, &events);
            (books, folded)
        });
        let (task, next) = tokio::join!(folding, page(position));
        let folded;
        (books, folded) = task.map_err(|e| {
            ProjectionError::Tables(crate::tables::TableError::Corrupt(format!(
                "fold task: {e}"
            )))
        })?;
        folded?;
        events = next?;
        progress(position, head);
    }
    Ok((books, position, count))
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    pub generation: i64,
    pub previous_generation: i64,
    pub events: u64,
    pub position: i64,
    pub invoices: usize,
    pub checksum: String,
    pub took: Duration,
}

/// Replay from 0 into a new generation, catch it up with live appends,
/// then make it the live one and drop the old generation. The live
/// projection keeps serving (and folding) the old generation until the swap.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    tables: Arc<dyn ProjectionTables>,
    progress: Progress<'_>,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    let generation = tables.new_generation(INVOICES).await?;
    let (books, position, events) = replay(store.as_ref(), None, progress).await?;
    let invoices = books
        .invoices()
        .map_err(|source| ProjectionError::Fold { position, source })?;
    let changed = invoices
        .iter()
        .map(|i| ledger::event::InvoiceKey {
            org_id: i.org_id.clone(),
            period_start: i.period_start,
        })
        .collect();
    let commit = commit_for(
        &books,
        generation,
        0,
        position,
        &all_orgs(&books),
        true,
        &changed,
    )?;
    if !tables.commit(INVOICES, &commit).await? {
        return Err(ProjectionError::Tables(crate::tables::TableError::Corrupt(
            format!("generation {generation} was written by someone else during the rebuild"),
        )));
    }
    let projector = InvoiceProjector::new(store, tables.clone());
    let mut events_total = events;
    while let Outcome::Worked { events, .. } = projector.step(generation).await? {
        events_total += events as u64;
    }
    let invoices = tables.invoices(generation).await?;
    let previous_generation = tables.activate(INVOICES, generation).await?;
    if previous_generation != generation {
        tables
            .drop_generation(INVOICES, previous_generation)
            .await?;
    }
    Ok(RebuildReport {
        generation,
        previous_generation,
        events: events_total,
        position: tables.checkpoint(INVOICES, generation).await?.position,
        invoices: invoices.len(),
        checksum: checksum(&invoices)?,
        took: started.elapsed(),
    })
}

/// The outcome of comparing the live projection with a replay.
#[derive(Debug, Clone)]
pub struct Verification {
    pub position: i64,
    pub live_checksum: String,
    pub rebuilt_checksum: String,
    /// (org, period start) of invoices that differ or exist on one side only.
    pub differing: Vec<(String, chrono::DateTime<chrono::Utc>)>,
}

impl Verification {
    pub fn matches(&self) -> bool {
        self.differing.is_empty() && self.live_checksum == self.rebuilt_checksum
    }
}

/// Replay aside (nothing is written) up to the live checkpoint and compare.
pub async fn verify(
    store: &dyn EventStore,
    tables: &dyn ProjectionTables,
    progress: Progress<'_>,
) -> Result<Verification, ProjectionError> {
    // Read a consistent pair (checkpoint, invoices): retry if the live
    // runner committed in between.
    let (position, live) = loop {
        let generation = tables.active_generation(INVOICES).await?;
        let before = tables.checkpoint(INVOICES, generation).await?.position;
        let live = tables.invoices(generation).await?;
        let after = tables.checkpoint(INVOICES, generation).await?.position;
        if before == after {
            break (before, live);
        }
    };
    let (books, _, _) = replay(store, Some(position), progress).await?;
    let rebuilt: Vec<Invoice> = books
        .invoices()
        .map_err(|source| ProjectionError::Fold { position, source })?;
    let key = |i: &Invoice| (i.org_id.as_str().to_owned(), i.period_start);
    let live_map: std::collections::BTreeMap<_, _> = live.iter().map(|i| (key(i), i)).collect();
    let rebuilt_map: std::collections::BTreeMap<_, _> =
        rebuilt.iter().map(|i| (key(i), i)).collect();
    let mut differing: Vec<_> = live_map
        .keys()
        .chain(rebuilt_map.keys())
        .filter(|k| live_map.get(*k) != rebuilt_map.get(*k))
        .cloned()
        .collect();
    differing.sort();
    differing.dedup();
    Ok(Verification {
        position,
        live_checksum: checksum(&live)?,
        rebuilt_checksum: checksum(&rebuilt)?,
        differing,
    })
}
