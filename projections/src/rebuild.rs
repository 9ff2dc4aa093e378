//! Rebuild a projection from position 0 into a fresh generation, swap it in
//! atomically, and verify live state against a rebuild (drift detection).
//!
//! Rebuilding is a replay only: the fold is pure, and nothing here can call
//! Stripe or append events — side-effecting handlers live in `sync` and
//! take no part in it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use ledger::{EventStore, OrgId};
use sha2::{Digest, Sha256};

use crate::fold::{Books, Invoice, OrgBook};
use crate::parked::Parked;
use crate::runner::{
    all_orgs, commit_for, fold_isolated, load_books, restore_periods, restore_touched,
    InvoiceProjector, Outcome, ProjectionError, CATALOG_KEY,
};
use crate::tables::{Commit, InvoiceRow, ProjectionTables, INVOICES};

/// Positions read per page while replaying (so at most this many events).
const REPLAY_PAGE: u32 = 10_000;

/// SHA-256 over the canonical serialisation of invoices ordered by (org,
/// period). Identical state gives identical checksums on every backend.
pub fn checksum(invoices: &[Invoice]) -> Result<String, ProjectionError> {
    let documents = invoices
        .iter()
        .map(|invoice| Ok((invoice, serde_json::to_vec(invoice)?)))
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    let mut hasher = Sha256::new();
    canonical(
        documents
            .iter()
            .map(|(invoice, bytes)| (*invoice, bytes.as_slice())),
        |bytes| hasher.update(bytes),
    );
    Ok(hex(hasher))
}

/// Hand invoices, each with its serialised document, to `feed` as
/// [`checksum`] digests them: ordered by (org, period), each document ended
/// by a newline. Sets of invoices of disjoint organization ranges, fed in
/// organization order, digest as their union would.
fn canonical<'a>(
    documents: impl Iterator<Item = (&'a Invoice, &'a [u8])>,
    mut feed: impl FnMut(&[u8]),
) {
    let mut sorted: Vec<_> = documents.collect();
    sorted.sort_by(|(a, _), (b, _)| {
        (a.org_id.as_str(), a.period_start).cmp(&(b.org_id.as_str(), b.period_start))
    });
    for (_, document) in sorted {
        feed(document);
        feed(b"\n");
    }
}

fn hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One page of a replay: decoded in the store, or — when some event of the
/// page cannot be decoded — as stored, so the fold parks only the
/// organization the undecodable event belongs to.
enum ReplayPage {
    Decoded(Vec<ledger::ReplayedEvent>),
    Stored(Vec<ledger::RecordedEvent>),
}

impl ReplayPage {
    fn last_position(&self) -> Option<i64> {
        match self {
            Self::Decoded(events) => events.last().map(|e| e.global_position),
            Self::Stored(events) => events.last().map(|e| e.global_position),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Decoded(events) => events.len(),
            Self::Stored(events) => events.len(),
        }
    }

    /// The organizations the page's events concern.
    fn orgs(&self) -> BTreeSet<&str> {
        match self {
            Self::Decoded(events) => events.iter().filter_map(|e| e.org_id.as_deref()).collect(),
            Self::Stored(events) => events.iter().filter_map(|e| e.org_id.as_deref()).collect(),
        }
    }
}

/// Fold replayed events, isolating poison pills (see [`crate::parked`]).
/// The fold reads only the position and `occurred_at` of an envelope
/// (besides the typed event), so a replay builds a minimal envelope
/// instead of a full `RecordedEvent`.
pub fn fold_replayed(
    books: &mut Books,
    events: &[ledger::ReplayedEvent],
    parked: &mut Parked,
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
        if e.org_id.as_deref().is_some_and(|org| parked.contains(org)) {
            continue;
        }
        envelope.global_position = e.global_position;
        envelope.occurred_at = e.occurred_at;
        if let Err(source) = books.apply_decoded(&envelope, &e.event) {
            crate::parked::park_or_fail(
                parked,
                books,
                e.org_id.as_deref(),
                e.global_position,
                source,
            )?;
        }
    }
    Ok(())
}

fn fold_page(
    books: &mut Books,
    page: &ReplayPage,
    parked: &mut Parked,
) -> Result<(), ProjectionError> {
    match page {
        ReplayPage::Decoded(events) => fold_replayed(books, events, parked),
        ReplayPage::Stored(events) => fold_isolated(books, events, parked).map(|_| ()),
    }
}

/// Replay progress: (position reached, head position when the replay began).
pub type Progress<'a> = &'a (dyn Fn(i64, i64) + Send + Sync);

/// Fold every event up to `up_to` (inclusive; `None` = the head when the
/// replay starts) in memory. Returns the books, the last position folded,
/// the number of events and the organizations parked. Reading and folding
/// are pipelined: page N is folded on a blocking thread while the pages
/// after it are read and decoded.
pub async fn replay(
    store: &dyn EventStore,
    up_to: Option<i64>,
    progress: Progress<'_>,
) -> Result<(Books, i64, u64, Parked), ProjectionError> {
    let replayed = replay_within(store, up_to, None, progress).await?;
    Ok((
        replayed.books,
        replayed.position,
        replayed.events,
        replayed.parked,
    ))
}

/// What a replay folded.
struct Replayed {
    books: Books,
    /// The last position folded.
    position: i64,
    events: u64,
    parked: Parked,
    /// Whether books were written out to the spill's generation (which
    /// then holds more than `books`).
    spilled: bool,
}

/// How much of a replay a rebuild holds in memory at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Organizations whose books are held in memory; beyond it, the books
    /// touched longest ago are written to the generation being built and
    /// read back when one of their events comes.
    pub max_books: usize,
    /// Positions read and folded per page, at most
    /// [`ledger::store::MAX_READ_LIMIT`] (each page is held in memory up
    /// to four times: one being folded, the next queued, and on PostgreSQL
    /// two being read).
    pub page_events: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            max_books: 10_000,
            page_events: REPLAY_PAGE,
        }
    }
}

/// Where a replay that must stay within a [`Budget`] puts what it cannot
/// hold: the generation it is building.
struct Spill<'a> {
    tables: &'a dyn ProjectionTables,
    generation: i64,
    budget: Budget,
    /// Organizations written out and not in memory, by name.
    evicted: BTreeSet<String>,
    /// The page each organization in memory was last touched by.
    touched: BTreeMap<String, u64>,
    page: u64,
    /// Whether any book was ever written out.
    spilled: bool,
}

impl Spill<'_> {
    /// Before folding `page`: read back the books of its organizations that
    /// were written out, and the closed periods its events concern.
    async fn reload(
        &mut self,
        books: &mut Books,
        page: &ReplayPage,
        parked: &mut Parked,
        position: i64,
    ) -> Result<(), ProjectionError> {
        self.page += 1;
        // Each organization's name is copied once, when first touched, not
        // once a page.
        let orgs = page.orgs();
        for &org in &orgs {
            match self.touched.get_mut(org) {
                Some(page) => *page = self.page,
                None => {
                    self.touched.insert(org.to_owned(), self.page);
                }
            }
        }
        let back: BTreeSet<String> = orgs
            .into_iter()
            .filter(|&o| self.evicted.remove(o))
            .map(str::to_owned)
            .collect();
        if back.is_empty() {
            return Ok(());
        }
        let loaded = load_books(self.tables, self.generation, &back, parked, position).await?;
        books.orgs.extend(loaded.orgs);
        match page {
            ReplayPage::Decoded(events) => {
                let touched = events
                    .iter()
                    .filter(|e| e.org_id.as_ref().is_some_and(|o| back.contains(o)))
                    .map(|e| (e.occurred_at, &e.event));
                restore_periods(
                    self.tables,
                    self.generation,
                    books,
                    touched,
                    parked,
                    position,
                )
                .await
            }
            ReplayPage::Stored(events) => {
                restore_touched(
                    self.tables,
                    self.generation,
                    books,
                    events,
                    parked,
                    position,
                )
                .await
            }
        }
    }

    /// After folding: if more books are held than the budget allows, write
    /// out those touched longest ago (down to three quarters of it, so
    /// this does not run after every page).
    async fn evict(
        &mut self,
        books: &mut Books,
        parked: &mut Parked,
    ) -> Result<(), ProjectionError> {
        if books.orgs.len() <= self.budget.max_books {
            return Ok(());
        }
        let keep = self.budget.max_books * 3 / 4;
        let mut by_age: Vec<(u64, String)> = books
            .orgs
            .keys()
            .map(|o| {
                let page = self.touched.get(o.as_str()).copied().unwrap_or(0);
                (page, o.as_str().to_owned())
            })
            .collect();
        by_age.sort_unstable();
        let out: BTreeSet<String> = by_age
            .into_iter()
            .take(books.orgs.len() - keep)
            .map(|(_, o)| o)
            .collect();
        let changed = books
            .invoice_keys()
            .into_iter()
            .filter(|k| out.contains(k.org_id.as_str()))
            .collect();
        // The checkpoint stays at 0 until the replay's final commit: the
        // generation is not live, and a crash abandons it whole.
        let mut commit = commit_for(books, self.generation, 0, 0, &out, false, &changed, parked)?;
        commit.parked = Vec::new();
        if !self.tables.commit(INVOICES, &commit).await? {
            return Err(ProjectionError::Tables(crate::tables::TableError::Corrupt(
                format!(
                    "generation {} was written by someone else during the rebuild",
                    self.generation
                ),
            )));
        }
        books.orgs.retain(|o, _| !out.contains(o.as_str()));
        self.spilled = true;
        for org in out {
            self.touched.remove(&org);
            self.evicted.insert(org);
        }
        Ok(())
    }
}

/// [`replay`], or — given a spill — a replay that holds at most its
/// budget of books in memory, writing the rest to the spill's generation.
async fn replay_within(
    store: &dyn EventStore,
    up_to: Option<i64>,
    mut spill: Option<Spill<'_>>,
    progress: Progress<'_>,
) -> Result<Replayed, ProjectionError> {
    let head = match up_to {
        Some(p) => p,
        None => store.head_position().await?,
    };
    let size = spill
        .as_ref()
        .map_or(REPLAY_PAGE, |s| s.budget.page_events)
        .clamp(1, ledger::store::MAX_READ_LIMIT);
    // A page is what is stored in a range of `size` positions, `(after,
    // through]`, so pages can be read before the one ahead of them ends.
    let page = |after: i64, through: i64| async move {
        let page = match store.replay_page(after, through, size).await {
            Ok(events) => ReplayPage::Decoded(events),
            // Some event of the page cannot be decoded: read it as stored
            // and let the fold park the organization it belongs to.
            Err(ledger::StoreError::Corrupt(_)) => {
                let mut events = store.read_all(after, size).await?;
                events.retain(|e| e.global_position <= through);
                ReplayPage::Stored(events)
            }
            Err(other) => return Err(other.into()),
        };
        Ok::<_, ProjectionError>(page)
    };
    // The reader runs ahead of the fold: while page N is folded on a
    // blocking thread, page N+1 waits in the channel and the next pages
    // are being read (as many at once as the store serves well, each on a
    // connection of its own), so neither the database nor the fold waits
    // on the other.
    let reads_at_once = store.replay_reads_at_once().max(1);
    let (pages, mut queued) = tokio::sync::mpsc::channel::<Result<ReplayPage, ProjectionError>>(1);
    let reader = async move {
        let mut reads = futures::stream::FuturesOrdered::new();
        // Pages up to here are being read or were.
        let mut next = 0;
        loop {
            while reads.len() < reads_at_once && next < head {
                let through = next.saturating_add(i64::from(size)).min(head);
                reads.push_back(page(next, through));
                next = through;
            }
            let Some(read) = reads.next().await else {
                return; // every page up to the head is read
            };
            let read = match read {
                // A hole in the positions (appends refused after drawing
                // theirs leave one): go on from the next stored event, so
                // a hole costs one probe however wide it is.
                Ok(page) if page.len() == 0 => match store.read_all(next, 1).await {
                    Ok(stored) => {
                        if let Some(first) = stored.first() {
                            next = next.max(first.global_position - 1);
                        }
                        continue;
                    }
                    Err(e) => Err(e.into()),
                },
                read => read,
            };
            let failed = read.is_err();
            if pages.send(read).await.is_err() || failed {
                return; // the fold stopped, or will on the error
            }
        }
    };
    let fold = async move {
        let mut books = Books::default();
        let mut parked = Parked::default();
        let (mut position, mut count) = (0, 0u64);
        while let Some(events) = queued.recv().await {
            let events = events?;
            let Some(last) = events.last_position() else {
                break;
            };
            if let Some(spill) = spill.as_mut() {
                spill
                    .reload(&mut books, &events, &mut parked, position)
                    .await?;
            }
            position = last;
            count += events.len() as u64;
            let folding = tokio::task::spawn_blocking(move || {
                let folded = fold_page(&mut books, &events, &mut parked);
                (books, parked, folded)
            });
            let folded;
            (books, parked, folded) = folding.await.map_err(|e| task_failed("fold", e))?;
            folded?;
            if let Some(spill) = spill.as_mut() {
                spill.evict(&mut books, &mut parked).await?;
            }
            progress(position, head);
        }
        Ok::<_, ProjectionError>(Replayed {
            books,
            position,
            events: count,
            parked,
            spilled: spill.is_some_and(|s| s.spilled),
        })
    };
    let ((), folded) = tokio::join!(reader, fold);
    folded
}

/// Every invoice of `books` but those of organizations whose invoice
/// cannot be shown (parked).
fn shown_invoices(mut books: Books, parked: &mut Parked) -> Result<Vec<Invoice>, ProjectionError> {
    let keys = books.invoice_keys();
    let mut invoices = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(book) = books.orgs.get(&key.org_id) else {
            continue;
        };
        match book.invoice(key.period_start) {
            Ok(invoice) => invoices.extend(invoice),
            Err(source) => {
                let position = book.last_position;
                crate::parked::park_or_fail(
                    parked,
                    &mut books,
                    Some(key.org_id.as_str()),
                    position,
                    source,
                )?;
            }
        }
    }
    invoices.retain(|i| !parked.contains(i.org_id.as_str()));
    Ok(invoices)
}

/// Parts a rebuild's final write is cut into, by organization.
const FILL_PARTS: usize = 8;

/// Parts written at once.
const FILL_WRITERS: usize = 4;

/// The books of a range of organizations, rendered for the final write.
struct Part {
    states: Vec<(String, crate::tables::State)>,
    invoices: Vec<InvoiceRow>,
    /// Organizations whose invoice could not be rendered.
    parked: Parked,
    /// The part's invoices as [`checksum`] digests them.
    canonical: Vec<u8>,
    /// When the part finished rendering.
    rendered: Instant,
}

impl Part {
    fn render(
        orgs: BTreeMap<OrgId, OrgBook>,
        generation: i64,
        position: i64,
    ) -> Result<Self, ProjectionError> {
        let mut books = Books {
            orgs,
            ..Books::default()
        };
        let changed = books.invoice_keys();
        let names = all_orgs(&books);
        let mut parked = Parked::default();
        let commit = commit_for(
            &mut books,
            generation,
            0,
            position,
            &names,
            false,
            &changed,
            &mut parked,
        )?;
        let mut bytes = Vec::new();
        canonical(
            commit
                .invoices
                .iter()
                .map(|row| (&row.invoice, row.document.get().as_bytes())),
            |b| bytes.extend_from_slice(b),
        );
        Ok(Self {
            states: commit.states,
            invoices: commit.invoices,
            parked,
            canonical: bytes,
            rendered: Instant::now(),
        })
    }
}

/// Cut `orgs` into at most `parts` maps of consecutive organizations, in
/// order.
fn split<K: Ord + Clone, V>(mut orgs: BTreeMap<K, V>, parts: usize) -> Vec<BTreeMap<K, V>> {
    let len = orgs.len();
    let mut cut = Vec::with_capacity(parts);
    for i in (1..parts).rev() {
        let Some(first) = orgs.keys().nth(len * i / parts).cloned() else {
            continue;
        };
        cut.push(orgs.split_off(&first));
    }
    cut.push(orgs);
    cut.reverse();
    cut.retain(|part| !part.is_empty());
    cut
}

/// What [`fill`] wrote.
struct Filled {
    invoices: usize,
    /// The checksum of the invoices written.
    checksum: String,
    /// When the last part finished rendering.
    rendered: Option<Instant>,
}

/// Render `orgs` into the generation being built and write them, part by
/// part: parts render on blocking threads (as many at once as there are
/// CPUs) while the parts before them are written, [`FILL_WRITERS`]
/// transactions at once (on PostgreSQL each in a
/// backend of its own, which parses, compresses and indexes its rows on a
/// core of its own; on SQLite the writer lock takes them in turn).
/// Organizations whose invoice cannot be rendered are parked. Nothing moves
/// the checkpoint: a crash before the commit that follows abandons the
/// generation whole, as it does a spill.
async fn fill(
    tables: &dyn ProjectionTables,
    generation: i64,
    position: i64,
    orgs: BTreeMap<OrgId, OrgBook>,
    parked: &mut Parked,
) -> Result<Filled, ProjectionError> {
    // Parts render a CPU's worth at a time and each goes to be written as
    // soon as it is rendered; both stages keep the parts in order, so they
    // digest as the whole generation would.
    let renderers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let parts = futures::stream::iter(split(orgs, FILL_PARTS))
        .map(|orgs| tokio::task::spawn_blocking(move || Part::render(orgs, generation, position)))
        .buffered(renderers)
        .map(|joined| {
            joined
                .map_err(|e| task_failed("render", e))
                .and_then(|part| part)
        });
    let mut written = parts
        .map_ok(|part| async move {
            tables
                .fill(INVOICES, generation, &part.states, &part.invoices)
                .await?;
            Ok::<_, ProjectionError>(part)
        })
        .try_buffered(FILL_WRITERS);
    let mut hasher = Sha256::new();
    let (mut invoices, mut rendered) = (0, None);
    while let Some(part) = written.try_next().await? {
        hasher.update(&part.canonical);
        invoices += part.invoices.len();
        rendered = rendered.max(Some(part.rendered));
        parked.absorb(part.parked);
    }
    Ok(Filled {
        invoices,
        checksum: hex(hasher),
        rendered,
    })
}

fn task_failed(task: &str, e: tokio::task::JoinError) -> ProjectionError {
    ProjectionError::Tables(crate::tables::TableError::Corrupt(format!(
        "{task} task: {e}"
    )))
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
    /// Where `took` went.
    pub phases: RebuildPhases,
}

/// How long each phase of a rebuild took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildPhases {
    /// Reading and folding every event (spills included).
    pub replay: Duration,
    /// Rendering the invoices and serialising the states to write, until
    /// the last part is rendered (the first parts are written meanwhile).
    pub render: Duration,
    /// Writing the new generation's states and invoices, from then on, and
    /// the commit that moves its checkpoint.
    pub write: Duration,
    /// Folding what was appended meanwhile.
    pub catch_up: Duration,
    /// Swapping the generation in and dropping the old one (and reading
    /// its invoices back for the checksum when a spill or the catch-up
    /// wrote to it besides the final write).
    pub swap: Duration,
}

/// `replay 1.11s, render 0.13s, write 0.22s, catch-up 0.00s, swap 0.10s`
impl std::fmt::Display for RebuildPhases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replay {:.2}s, render {:.2}s, write {:.2}s, catch-up {:.2}s, swap {:.2}s",
            self.replay.as_secs_f64(),
            self.render.as_secs_f64(),
            self.write.as_secs_f64(),
            self.catch_up.as_secs_f64(),
            self.swap.as_secs_f64()
        )
    }
}

/// Replay from 0 into a new generation, catch it up with live appends,
/// then make it the live one and drop the old generation. The live
/// projection keeps serving (and folding) the old generation until the swap.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    tables: Arc<dyn ProjectionTables>,
    progress: Progress<'_>,
) -> Result<RebuildReport, ProjectionError> {
    rebuild_within(store, tables, Budget::default(), progress).await
}

/// [`rebuild`] holding at most `budget` in memory.
pub async fn rebuild_within(
    store: Arc<dyn EventStore>,
    tables: Arc<dyn ProjectionTables>,
    budget: Budget,
    progress: Progress<'_>,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    let generation = tables.new_generation(INVOICES).await?;
    let spill = Spill {
        tables: tables.as_ref(),
        generation,
        budget: Budget {
            max_books: budget.max_books.max(1),
            page_events: budget.page_events.max(1),
        },
        evicted: BTreeSet::new(),
        touched: BTreeMap::new(),
        page: 0,
        spilled: false,
    };
    let Replayed {
        books,
        position,
        events,
        mut parked,
        spilled,
    } = replay_within(store.as_ref(), None, Some(spill), progress).await?;
    let mut phases = RebuildPhases {
        replay: started.elapsed(),
        ..RebuildPhases::default()
    };
    let mark = Instant::now();
    let catalog = serde_json::value::to_raw_value(&books.catalog)?;
    let filled = fill(
        tables.as_ref(),
        generation,
        position,
        books.orgs,
        &mut parked,
    )
    .await?;
    let commit = Commit {
        generation,
        from_position: 0,
        to_position: position,
        states: vec![(CATALOG_KEY.to_owned(), catalog)],
        invoices: Vec::new(),
        parked: parked.into_newly_parked(),
    };
    if !tables.commit(INVOICES, &commit).await? {
        return Err(ProjectionError::Tables(crate::tables::TableError::Corrupt(
            format!("generation {generation} was written by someone else during the rebuild"),
        )));
    }
    let rendered = filled.rendered.unwrap_or(mark);
    phases.render = rendered - mark;
    phases.write = rendered.elapsed();
    let mark = Instant::now();
    let projector = InvoiceProjector::new(store, tables.clone());
    let mut caught_up = 0;
    while let Outcome::Worked { events, .. } = projector.step(generation).await? {
        caught_up += events as u64;
    }
    phases.catch_up = mark.elapsed();
    let mark = Instant::now();
    // The generation holds what was filled unless a spill or the catch-up
    // wrote to it too; then it is read back.
    let (invoices, checksum) = if spilled || caught_up > 0 {
        let invoices = tables.invoices(generation).await?;
        (invoices.len(), checksum(&invoices)?)
    } else {
        (filled.invoices, filled.checksum)
    };
    let previous_generation = tables.activate(INVOICES, generation).await?;
    if previous_generation != generation {
        tables
            .drop_generation(INVOICES, previous_generation)
            .await?;
    }
    let position = tables.checkpoint(INVOICES, generation).await?.position;
    phases.swap = mark.elapsed();
    let events_total = events + caught_up;
    tracing::info!(
        generation,
        events = events_total,
        replay_ms = phases.replay.as_millis(),
        render_ms = phases.render.as_millis(),
        write_ms = phases.write.as_millis(),
        catch_up_ms = phases.catch_up.as_millis(),
        swap_ms = phases.swap.as_millis(),
        "rebuild finished"
    );
    Ok(RebuildReport {
        generation,
        previous_generation,
        events: events_total,
        position,
        invoices,
        checksum,
        took: started.elapsed(),
        phases,
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
    let (books, _, _, mut parked) = replay(store, Some(position), progress).await?;
    let rebuilt = shown_invoices(books, &mut parked)?;
    // Parked organizations are reported apart (the ops API), not as drift:
    // live holds their invoices as last committed, a replay none.
    let live_parked = tables.parked(INVOICES).await?;
    let is_parked = |org: &str| parked.contains(org) || live_parked.iter().any(|p| p.org_id == org);
    let live: Vec<Invoice> = live
        .into_iter()
        .filter(|i| !is_parked(i.org_id.as_str()))
        .collect();
    let rebuilt: Vec<Invoice> = rebuilt
        .into_iter()
        .filter(|i| !is_parked(i.org_id.as_str()))
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_cuts_consecutive_non_empty_parts_that_join_back_whole() {
        for len in [0, 1, 3, 7, 8, 9, 10, 1_234] {
            let whole: BTreeMap<usize, usize> = (0..len).map(|k| (k, k * 10)).collect();
            let parts = split(whole.clone(), FILL_PARTS);
            assert_eq!(parts.len(), len.min(FILL_PARTS), "{len} entries");
            assert!(parts.iter().all(|p| !p.is_empty()), "{len} entries");
            let joined: Vec<(usize, usize)> = parts.into_iter().flatten().collect();
            let expected: Vec<(usize, usize)> = whole.into_iter().collect();
            assert_eq!(joined, expected, "{len} entries, in order");
        }
    }
}
