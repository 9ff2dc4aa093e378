//! The projection runner: folds events from its checkpoint and commits the
//! new state, the changed invoices and the checkpoint in one transaction.
//!
//! Crash anywhere: the transaction either committed (the checkpoint covers
//! exactly what was written) or not (the events are folded again from the
//! old checkpoint on restart). Two runners at once: a commit is guarded by
//! the checkpoint it started from, so the loser writes nothing and retries.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ledger::{EventStore, OrgId, RecordedEvent};
use tokio_util::sync::CancellationToken;

use crate::fold::{Books, Catalog, ClosedPeriod, FoldError, OrgBook};
use crate::parked::{self, Parked};
use crate::tables::{Commit, InvoiceRow, ProjectionTables, TableError, INVOICES};

/// State key of the price catalog in `projection_state`.
pub const CATALOG_KEY: &str = "catalog";

/// State key of one organization's book.
pub fn org_key(org: &str) -> String {
    format!("org:{org}")
}

/// State key of one closed period compacted out of an organization's book
/// (see [`OrgBook::compact`]); not under `org:`, which lists the books.
pub fn closed_period_key(org: &str, period_start: chrono::DateTime<chrono::Utc>) -> String {
    format!("period:{}:{org}", period_start.timestamp())
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Tables(#[from] TableError),
    #[error(transparent)]
    Store(#[from] ledger::StoreError),
    #[error("folding event at position {position}: {source}")]
    Fold {
        position: i64,
        #[source]
        source: FoldError,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Folded events up to `position` (or lost a race and will retry).
    Worked { events: usize, position: i64 },
    /// Caught up: nothing after the checkpoint.
    Idle,
}

/// Load the catalog and the books of `orgs` from a generation's state. An
/// organization whose state row cannot be read is parked; a catalog that
/// cannot be read is an error (every organization is priced through it).
pub async fn load_books(
    tables: &dyn ProjectionTables,
    generation: i64,
    orgs: &BTreeSet<String>,
    parked: &mut Parked,
    position: i64,
) -> Result<Books, ProjectionError> {
    let mut keys: Vec<String> = orgs.iter().map(|o| org_key(o)).collect();
    keys.push(CATALOG_KEY.to_owned());
    let mut books = Books::default();
    for (key, state) in tables.load_states(generation, &keys).await? {
        if key == CATALOG_KEY {
            books.catalog = serde_json::from_str::<Catalog>(state.get())?;
        } else if let Some(org) = key.strip_prefix("org:") {
            let book = OrgId::new(org).map_err(|e| e.to_string()).and_then(|id| {
                serde_json::from_str::<OrgBook>(state.get())
                    .map(|book| (id, book))
                    .map_err(|e| e.to_string())
            });
            match book {
                Ok((id, book)) => {
                    books.orgs.insert(id, book);
                }
                Err(e) => parked.park(
                    &mut books,
                    org,
                    position,
                    format!("its stored fold state cannot be read: {e}"),
                ),
            }
        }
    }
    Ok(books)
}

/// Load back into `books` the compacted closed periods `events` concern
/// (late usage, a payment of an old invoice); most batches concern none and
/// read nothing. An organization whose period cannot be read is parked.
pub async fn restore_touched(
    tables: &dyn ProjectionTables,
    generation: i64,
    books: &mut Books,
    events: &[RecordedEvent],
    parked: &mut Parked,
    position: i64,
) -> Result<(), ProjectionError> {
    let mut decoded = Vec::new();
    for event in events {
        let archived = event
            .org_id
            .as_deref()
            .and_then(|o| OrgId::new(o).ok())
            .and_then(|org| books.orgs.get(&org))
            .is_some_and(OrgBook::has_archived);
        // An event that cannot be decoded touches nothing; the fold parks
        // its organization.
        if let (true, Ok(e)) = (archived, event.decode()) {
            decoded.push((event.occurred_at, e));
        }
    }
    let touched = decoded.iter().map(|(at, e)| (*at, e));
    restore_periods(tables, generation, books, touched, parked, position).await
}

/// [`restore_touched`] over decoded events and their `occurred_at`.
pub async fn restore_periods<'e>(
    tables: &dyn ProjectionTables,
    generation: i64,
    books: &mut Books,
    events: impl IntoIterator<Item = (chrono::DateTime<chrono::Utc>, &'e ledger::LedgerEvent)>,
    parked: &mut Parked,
    position: i64,
) -> Result<(), ProjectionError> {
    let mut wanted: BTreeMap<String, OrgId> = BTreeMap::new();
    for (occurred_at, event) in events {
        let Some(org) = event.org_id() else { continue };
        let Some(book) = books.orgs.get(org).filter(|b| b.has_archived()) else {
            continue;
        };
        for start in book.archived_touched(occurred_at, event) {
            wanted.insert(closed_period_key(org.as_str(), start), org.clone());
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = wanted.keys().cloned().collect();
    for (key, state) in tables.load_states(generation, &keys).await? {
        let Some(org) = wanted.get(&key) else {
            continue;
        };
        match serde_json::from_str::<ClosedPeriod>(state.get()) {
            Ok(closed) => {
                if let Some(book) = books.orgs.get_mut(org) {
                    book.restore(closed);
                }
            }
            Err(e) => parked.park(
                books,
                org.as_str(),
                position,
                format!("its stored closed period `{key}` cannot be read: {e}"),
            ),
        }
    }
    // A period listed but not stored stays compacted: the fold then refuses
    // the event that needs it and parks the organization, naming it.
    Ok(())
}

/// Fold `events` into `books`; returns the invoices whose content changed.
pub fn fold_events(
    books: &mut Books,
    events: &[RecordedEvent],
) -> Result<BTreeSet<ledger::event::InvoiceKey>, ProjectionError> {
    let mut changed = BTreeSet::new();
    for event in events {
        let keys = books.apply(event).map_err(|source| ProjectionError::Fold {
            position: event.global_position,
            source,
        })?;
        changed.extend(keys);
    }
    Ok(changed)
}

/// [`fold_events`], isolating poison pills: an event of a parked
/// organization is skipped, and one the fold cannot use parks its
/// organization (see [`crate::parked`]). Returns the changed invoices of
/// organizations still folding.
pub fn fold_isolated(
    books: &mut Books,
    events: &[RecordedEvent],
    parked: &mut Parked,
) -> Result<BTreeSet<ledger::event::InvoiceKey>, ProjectionError> {
    let mut changed = BTreeSet::new();
    for event in events {
        if parked::skips(parked, event) {
            continue;
        }
        match books.apply(event) {
            Ok(keys) => changed.extend(keys),
            Err(source) => parked::park_or_fail(
                parked,
                books,
                event.org_id.as_deref(),
                event.global_position,
                source,
            )?,
        }
    }
    changed.retain(|key| !parked.contains(key.org_id.as_str()));
    Ok(changed)
}

/// The state rows and invoices a set of changes must write. An
/// organization with an invoice the fold cannot show (an amount out of
/// range) is parked instead: none of its rows are written.
#[allow(clippy::too_many_arguments)]
pub fn commit_for(
    books: &mut Books,
    generation: i64,
    from_position: i64,
    to_position: i64,
    orgs: &BTreeSet<String>,
    catalog_changed: bool,
    changed: &BTreeSet<ledger::event::InvoiceKey>,
    parked: &mut Parked,
) -> Result<Commit, ProjectionError> {
    let mut invoices = Vec::with_capacity(changed.len());
    for key in changed {
        let Some(book) = books.orgs.get(&key.org_id) else {
            continue;
        };
        match book.invoice(key.period_start) {
            Ok(invoice) => invoices.extend(invoice),
            Err(source) => {
                let position = book.last_position;
                parked::park_or_fail(parked, books, Some(key.org_id.as_str()), position, source)?;
            }
        }
    }
    let invoices = invoices
        .into_iter()
        .filter(|i| !parked.contains(i.org_id.as_str()))
        .map(InvoiceRow::new)
        .collect::<Result<Vec<_>, _>>()?;
    let mut states = Vec::with_capacity(orgs.len() + 1);
    if catalog_changed {
        states.push((
            CATALOG_KEY.to_owned(),
            serde_json::value::to_raw_value(&books.catalog)?,
        ));
    }
    for (org, book) in &mut books.orgs {
        if orgs.contains(org.as_str()) && !parked.contains(org.as_str()) {
            // Closed periods leave the book for rows of their own, so the
            // next fold of this organization loads and writes only what is
            // still moving.
            for closed in book.compact() {
                states.push((
                    closed_period_key(org.as_str(), closed.period_start()),
                    serde_json::value::to_raw_value(&closed)?,
                ));
            }
            states.push((
                org_key(org.as_str()),
                serde_json::value::to_raw_value(book)?,
            ));
        }
    }
    Ok(Commit {
        generation,
        from_position,
        to_position,
        states,
        invoices,
        parked: parked.newly_parked().to_vec(),
    })
}

/// Drives the invoice projection of one database.
#[derive(Clone)]
pub struct InvoiceProjector {
    store: Arc<dyn EventStore>,
    tables: Arc<dyn ProjectionTables>,
    batch_size: u32,
}

impl InvoiceProjector {
    pub fn new(store: Arc<dyn EventStore>, tables: Arc<dyn ProjectionTables>) -> Self {
        Self {
            store,
            tables,
            batch_size: 1_000,
        }
    }

    pub fn with_batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    pub fn tables(&self) -> &Arc<dyn ProjectionTables> {
        &self.tables
    }

    /// Fold the next batch into the live generation.
    pub async fn try_process_next(&self) -> Result<Outcome, ProjectionError> {
        let generation = self.tables.active_generation(INVOICES).await?;
        self.step(generation).await
    }

    /// Fold the next batch into `generation` (live or being rebuilt).
    #[tracing::instrument(skip(self), fields(projection = INVOICES))]
    pub async fn step(&self, generation: i64) -> Result<Outcome, ProjectionError> {
        let from = self.tables.checkpoint(INVOICES, generation).await?.position;
        let events = self.store.read_all(from, self.batch_size).await?;
        let Some(last) = events.last() else {
            return Ok(Outcome::Idle);
        };
        let to = last.global_position;
        let mut parked = Parked::stored(self.tables.parked_orgs(INVOICES, generation).await?);
        let orgs: BTreeSet<String> = events
            .iter()
            .filter(|e| !parked::skips(&parked, e))
            .filter_map(|e| e.org_id.clone())
            .collect();
        let catalog_changed = events.iter().any(|e| e.org_id.is_none());
        let mut books =
            load_books(self.tables.as_ref(), generation, &orgs, &mut parked, from).await?;
        restore_touched(
            self.tables.as_ref(),
            generation,
            &mut books,
            &events,
            &mut parked,
            from,
        )
        .await?;
        let changed = fold_isolated(&mut books, &events, &mut parked)?;
        let commit = commit_for(
            &mut books,
            generation,
            from,
            to,
            &orgs,
            catalog_changed,
            &changed,
            &mut parked,
        )?;
        if !self.tables.commit(INVOICES, &commit).await? {
            tracing::info!(
                from,
                "checkpoint moved under us; another runner folded these events"
            );
            return Ok(Outcome::Worked {
                events: 0,
                position: from,
            });
        }
        tracing::debug!(
            events = events.len(),
            to,
            invoices = commit.invoices.len(),
            "folded"
        );
        Ok(Outcome::Worked {
            events: events.len(),
            position: to,
        })
    }

    /// Step until caught up.
    pub async fn catch_up(&self) -> Result<i64, ProjectionError> {
        let mut folded = 0;
        while let Outcome::Worked { events, .. } = self.try_process_next().await? {
            folded += events as i64;
        }
        Ok(folded)
    }

    /// Follow the event store until `shutdown`: fold while there is work,
    /// poll every `poll` when idle. Errors are logged and retried with a
    /// capped backoff; the checkpoint keeps progress.
    pub async fn run(&self, poll: Duration, shutdown: CancellationToken) {
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let pause = match self.try_process_next().await {
                Ok(Outcome::Worked { .. }) => {
                    failures = 0;
                    continue;
                }
                Ok(Outcome::Idle) => poll,
                Err(err) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(error = %err, failures, "invoice projection step failed");
                    (poll * 2u32.saturating_pow(failures.min(6))).min(Duration::from_secs(30))
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}

/// Every org key with state in `books` (for full writes after a rebuild).
pub fn all_orgs(books: &Books) -> BTreeSet<String> {
    books.orgs.keys().map(|o| o.as_str().to_owned()).collect()
}

/// Invoices of `books` keyed for comparison.
pub fn invoices_by_key(
    books: &Books,
) -> Result<BTreeMap<(String, i64), crate::fold::Invoice>, FoldError> {
    Ok(books
        .invoices()?
        .into_iter()
        .map(|i| {
            (
                (i.org_id.as_str().to_owned(), i.period_start.timestamp()),
                i,
            )
        })
        .collect())
}
