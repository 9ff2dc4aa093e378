//! The append-only event store: one trait, one implementation over both
//! backends ([`SqlStore`], on the shared layer of [`crate::db`]).
//!
//! # Gap safety
//! A reader tails [`EventStore::read_all`] and advances its cursor to the
//! last position it saw. That is only safe if no event can become visible
//! later with a *smaller* position. PostgreSQL hands out sequence values
//! before commit, so two concurrent appends may commit out of order. The
//! PostgreSQL backend therefore serialises position assignment: every
//! append takes one transaction-scoped advisory lock before it draws
//! positions, and PostgreSQL releases that lock only after the commit is
//! visible. Positions thus become visible in increasing order. Appends still
//! run concurrently up to that point, and batching (hundreds of events per
//! append) keeps throughput at the disk's commit rate rather than the
//! lock's. SQLite allows one writer at a time, so the same holds there by
//! construction; its backend also serialises writers in-process to avoid
//! busy-waiting. Both are proved by the concurrent-writers conformance test.

mod copy;
mod group;
mod insert;
mod plan;
mod seen;
mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{NewEvent, RecordedEvent, StreamId};

pub(crate) use group::GroupCommit;
pub(crate) use plan::{Existing, Plan};
pub use sql::SqlStore;

/// What an append expects a stream's current version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check: for facts without an invariant, such as usage.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exact(i64),
}

/// Events to append to one stream.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream_id: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// What became of one event of an append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AppendResult {
    Appended {
        event_id: Uuid,
        stream_version: i64,
        global_position: i64,
    },
    /// The idempotency key was already stored: nothing was written, and this
    /// names the event that holds the key.
    Duplicate {
        event_id: Uuid,
        stream_id: StreamId,
        stream_version: i64,
        global_position: i64,
    },
}

impl AppendResult {
    pub fn global_position(&self) -> i64 {
        match self {
            Self::Appended {
                global_position, ..
            }
            | Self::Duplicate {
                global_position, ..
            } => *global_position,
        }
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate { .. })
    }
}

/// The result of appending to one stream: one entry per event, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    pub stream_id: StreamId,
    /// The stream's version after the append (its last event's version).
    pub stream_version: i64,
    pub results: Vec<AppendResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the stream moved on. Nothing was written.
    #[error("stream `{stream_id}` is at version {actual}, expected {expected:?}")]
    Conflict {
        stream_id: StreamId,
        expected: ExpectedVersion,
        actual: i64,
    },
    /// An event of the batch is malformed. Nothing of the batch was written.
    #[error("event {index} of the batch is invalid: {reason}")]
    InvalidEvent { index: usize, reason: String },
    /// A uniqueness rule of the database refused the batch (for instance an
    /// event id that is already stored). Nothing was written.
    #[error("the batch violates unique constraint `{constraint}`")]
    UniqueViolation { constraint: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("unsupported DATABASE_URL `{0}`: use postgres://… or sqlite://path")]
    UnsupportedUrl(String),
    #[error("stored event is corrupt: {0}")]
    Corrupt(String),
    /// The database was opened read-only (a replica); writes go to the primary.
    #[error("this database is open read-only: writes go to the primary")]
    ReadOnly,
    /// The database's schema is not the one this build expects.
    #[error("the database schema is at version {}, this build expects version {expected}; run `billing migrate` on the primary with this build (or run the build that matches)", found.map_or_else(|| "none (never migrated)".to_owned(), |v| v.to_string()))]
    SchemaMismatch { found: Option<i64>, expected: i64 },
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err.as_database_error() {
            Some(db) if db.is_unique_violation() => Self::UniqueViolation {
                constraint: db
                    .constraint()
                    .map_or_else(|| db.message().to_owned(), str::to_owned),
            },
            _ => Self::Database(err),
        }
    }
}

/// Oldest or newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// Support's view of one organization's history.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub org_id: String,
    /// Empty: every type.
    pub event_types: Vec<String>,
    /// Inclusive lower bound on `occurred_at`.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `occurred_at`.
    pub occurred_to: Option<DateTime<Utc>>,
    /// Only events after this global position (exclusive).
    pub min_position: Option<i64>,
    /// Only events up to this global position (inclusive).
    pub max_position: Option<i64>,
    /// Only events whose top-level payload field (a name of lowercase
    /// letters, digits and `_`), in its text form, equals one of the values,
    /// e.g. `("meter", ["cpu_seconds"])`; the number 4 matches `"4"`. All
    /// pairs must match.
    pub payload_equals: Vec<(String, Vec<String>)>,
    /// Continue after this global position (in `direction`).
    pub cursor: Option<i64>,
    pub direction: Direction,
    pub limit: u32,
}

impl AuditQuery {
    /// Refuse payload field names that are not plain identifiers.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        for (field, _) in &self.payload_equals {
            let plain = !field.is_empty()
                && field.len() <= 64
                && field
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !plain {
                return Err(StoreError::InvalidQuery(format!(
                    "payload field `{field}` must be lowercase letters, digits and `_`"
                )));
            }
        }
        Ok(())
    }
}

/// A page of results and the cursor for the next one, if there is more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}

/// An event as a replay sees it (see [`EventStore::replay_page`]): decoded
/// for a fold, so a usage event's attributes are checked and left out
/// ([`crate::LedgerEvent::from_stored_text_for_fold`]).
#[derive(Debug, Clone)]
pub struct ReplayedEvent {
    pub global_position: i64,
    pub occurred_at: DateTime<Utc>,
    pub org_id: Option<String>,
    pub event: crate::LedgerEvent,
}

/// Decode one replayed row; anything that fails to decode is corruption.
pub(crate) fn replayed(
    global_position: i64,
    occurred_at: DateTime<Utc>,
    org_id: Option<String>,
    event_type: &str,
    schema_version: i32,
    payload: &str,
) -> Result<ReplayedEvent, StoreError> {
    let event = crate::LedgerEvent::from_stored_text_for_fold(event_type, schema_version, payload)
        .map_err(|err| {
            StoreError::Corrupt(format!("event at position {global_position}: {err}"))
        })?;
    Ok(ReplayedEvent {
        global_position,
        occurred_at,
        org_id,
        event,
    })
}

/// Most rows one read returns; larger limits are clamped.
pub const MAX_READ_LIMIT: u32 = 10_000;

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Append to several streams in one transaction: every event is stored,
    /// or (on any error) none. Within each stream, events whose idempotency
    /// key is already stored — or repeated earlier in the batch — are
    /// reported as duplicates and skipped; if that leaves a stream append
    /// with nothing to write, it succeeds without checking its expected
    /// version (it is a retry of something already done).
    async fn append_batch(
        &self,
        appends: Vec<StreamAppend>,
    ) -> Result<Vec<AppendOutcome>, StoreError>;

    /// Append to one stream; see [`EventStore::append_batch`].
    async fn append(
        &self,
        stream_id: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let mut outcomes = self
            .append_batch(vec![StreamAppend {
                stream_id: stream_id.clone(),
                expected,
                events,
            }])
            .await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Corrupt("append returned no outcome".into()))
    }

    /// A stream's events with `stream_version >= from_version`, in order.
    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from_version: i64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The stream's current version (0 if it has no events).
    async fn stream_version(&self, stream_id: &StreamId) -> Result<i64, StoreError>;

    /// Events with `global_position > after_position` in global order. Gap
    /// safe: a later call never returns a position at or below one an
    /// earlier call returned.
    async fn read_all(
        &self,
        after_position: i64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// What a replay needs of events after `after_position` and up to
    /// `through` (inclusive), at most `limit`, in global order: position,
    /// `occurred_at`, organization and the typed event, decoded straight
    /// from the stored payload text for a fold (a usage event's attributes
    /// are checked and left out; an event type this build does not know
    /// is an error, as it is for the live runner). Gap safe like
    /// [`EventStore::read_all`]. Bounded on both sides, pages of one replay
    /// can be read at once, on separate connections.
    async fn replay_page(
        &self,
        after_position: i64,
        through: i64,
        limit: u32,
    ) -> Result<Vec<ReplayedEvent>, StoreError>;

    /// How many [`EventStore::replay_page`] reads a replay keeps in flight.
    /// PostgreSQL serves each on a server process of its own, so a second
    /// read has the server send one page while the client decodes the one
    /// before; SQLite reads in this process, on the CPUs the decode and the
    /// fold use, and gains nothing from a second (measured: it loses).
    fn replay_reads_at_once(&self) -> usize {
        1
    }

    /// One organization's events, filtered, in pages.
    async fn read_audit(&self, query: &AuditQuery) -> Result<Page<RecordedEvent>, StoreError>;

    /// One event by id.
    async fn event_by_id(&self, event_id: Uuid) -> Result<Option<RecordedEvent>, StoreError>;

    /// The highest position stored (0 if empty).
    async fn head_position(&self) -> Result<i64, StoreError>;
}

/// Refuse malformed events before anything touches the database.
pub(crate) fn validate(appends: &[StreamAppend]) -> Result<(), StoreError> {
    let mut seen_streams = std::collections::HashSet::new();
    let mut seen_ids = std::collections::HashSet::new();
    let mut index = 0;
    for append in appends {
        if !seen_streams.insert(&append.stream_id) {
            return Err(StoreError::InvalidEvent {
                index,
                reason: format!(
                    "stream `{}` appears twice in one batch; merge its events",
                    append.stream_id
                ),
            });
        }
        for event in &append.events {
            let fail = |reason: String| Err(StoreError::InvalidEvent { index, reason });
            if event.event_type.is_empty()
                || event.event_type.len() > 100
                || event.event_type.chars().any(char::is_control)
            {
                return fail("event type must be 1 to 100 bytes without control characters".into());
            }
            if let Some(org) = &event.org_id {
                if org.is_empty() || org.len() > 200 || org.chars().any(char::is_control) {
                    return fail("org id must be 1 to 200 bytes without control characters".into());
                }
            }
            if event.schema_version < 1 {
                return fail("schema version must be at least 1".into());
            }
            if !event.payload.is_object() {
                return fail("payload must be a JSON object".into());
            }
            // PostgreSQL cannot store U+0000 in JSON text; refuse it on
            // both backends so they accept exactly the same events.
            if event.payload.has_nul() || event.metadata_has_nul() {
                return fail("text must not contain the NUL character (U+0000)".into());
            }
            if let Some(key) = &event.idempotency_key {
                if key.is_empty() || key.len() > 255 || key.chars().any(char::is_control) {
                    return fail(
                        "idempotency key must be 1 to 255 bytes without control characters".into(),
                    );
                }
            }
            if !seen_ids.insert(event.event_id) {
                return fail(format!("event id {} appears twice", event.event_id));
            }
            index += 1;
        }
    }
    Ok(())
}

impl NewEvent {
    fn metadata_has_nul(&self) -> bool {
        let m = &self.metadata;
        [&m.actor, &m.source, &m.correlation_id, &m.causation_id]
            .into_iter()
            .flatten()
            .any(|s| s.contains('\0'))
    }
}

/// Split a `limit + 1` result into a page and the cursor after it.
pub(crate) fn page(
    mut items: Vec<RecordedEvent>,
    limit: u32,
) -> Result<Page<RecordedEvent>, StoreError> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|e| e.global_position)
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}
