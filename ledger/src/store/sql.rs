//! The event store on either backend: one SQL text per read, one append
//! flow (validate, lock, look up keys and versions, plan, insert, report)
//! with only the position lock and the bulk insert written per backend
//! (`insert.rs`).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;

use super::{
    insert, validate, AppendOutcome, AuditQuery, Direction, EventStore, Existing, Page, Plan,
    ReplayedEvent, StoreError, StreamAppend, MAX_READ_LIMIT,
};
use crate::db::{Database, DbList, DbTime, DbUuid, Json, JsonText, WriteTx};
use crate::event::{EventMetadata, NewEvent, RecordedEvent, StreamId};

/// Every column of `event`, in [`EventRow`]'s order.
const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
    schema_version, org_id, payload, metadata, occurred_at, recorded_at, idempotency_key";

/// The event store over a [`Database`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Database,
}

impl SqlStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    global_position: i64,
    event_id: DbUuid,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    schema_version: i32,
    org_id: Option<String>,
    payload: Json<serde_json::Value>,
    metadata: Json<EventMetadata>,
    occurred_at: DbTime,
    recorded_at: DbTime,
    idempotency_key: Option<String>,
}

fn stream_id(raw: String) -> Result<StreamId, StoreError> {
    StreamId::new(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = StoreError;
    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        Ok(RecordedEvent {
            event_id: row.event_id.0,
            stream_id: stream_id(row.stream_id)?,
            stream_version: row.stream_version,
            global_position: row.global_position,
            event_type: row.event_type,
            schema_version: row.schema_version,
            org_id: row.org_id,
            payload: row.payload.0,
            metadata: row.metadata.0,
            occurred_at: row.occurred_at.0,
            recorded_at: row.recorded_at.0,
            idempotency_key: row.idempotency_key,
        })
    }
}

fn decode_all(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(RecordedEvent::try_from).collect()
}

fn limit(limit: u32) -> i64 {
    i64::from(limit.min(MAX_READ_LIMIT))
}

/// What an append must know before it plans, read in one statement under
/// the position lock: the stored holders of its keys, its streams' current
/// versions, and the newest stored `recorded_at`.
struct Known {
    keys: HashMap<String, Existing>,
    versions: HashMap<StreamId, i64>,
    last_recorded_at: Option<DateTime<Utc>>,
}

/// One row of [`known`]'s union: `kind` says which part it belongs to.
type KnownRow = (
    String,
    Option<String>,
    Option<DbUuid>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<DbTime>,
);

/// Read [`Known`] for these keys and streams. The correlated `LIMIT 1`
/// walks the (stream_id, stream_version) index backwards, so a stream with
/// millions of events costs one index probe.
async fn known(
    tx: &mut WriteTx,
    db: &Database,
    keys: Vec<String>,
    streams: Vec<String>,
) -> Result<Known, StoreError> {
    let dialect = db.dialect();
    let sql = format!(
        // PostgreSQL types a union pair by pair, so the first two parts
        // between them give every column a type other than NULL's.
        "SELECT 'last', NULL, NULL, NULL, NULL, NULL, \
           (SELECT recorded_at FROM event ORDER BY global_position DESC LIMIT 1) \
         UNION ALL \
         SELECT 'key', idempotency_key, event_id, stream_id, stream_version, global_position, NULL \
           FROM event WHERE {keys} \
         UNION ALL \
         SELECT 'version', s.value, NULL, NULL, (SELECT e.stream_version FROM event e \
           WHERE e.stream_id = s.value ORDER BY e.stream_version DESC LIMIT 1), NULL, NULL \
           FROM {streams}",
        keys = dialect.in_list("idempotency_key", "$1"),
        streams = dialect.list_rows("$2", "s"),
    );
    let rows: Vec<KnownRow> = tx
        .query_as(&sql)
        .bind(DbList(keys))
        .bind(DbList(streams))
        .fetch_all()
        .await?;
    let mut known = Known {
        keys: HashMap::new(),
        versions: HashMap::new(),
        last_recorded_at: None,
    };
    for (kind, name, event_id, stream, stream_version, global_position, recorded_at) in rows {
        match (
            kind.as_str(),
            name,
            event_id,
            stream,
            stream_version,
            global_position,
        ) {
            (
                "key",
                Some(key),
                Some(event_id),
                Some(stream),
                Some(stream_version),
                Some(global_position),
            ) => {
                let existing = Existing {
                    event_id: event_id.0,
                    stream_id: stream_id(stream)?,
                    stream_version,
                    global_position,
                };
                known.keys.insert(key, existing);
            }
            ("version", Some(stream), ..) => {
                known
                    .versions
                    .insert(stream_id(stream)?, stream_version.unwrap_or(0));
            }
            ("last", ..) => known.last_recorded_at = recorded_at.map(|t| t.0),
            (kind, ..) => {
                return Err(StoreError::Corrupt(format!(
                    "unexpected `{kind}` row while reading stored keys and versions"
                )))
            }
        }
    }
    Ok(known)
}

/// The time an append records: now, but never before the newest stored
/// event's `recorded_at`, so `recorded_at` never decreases along the
/// global order (the caller holds the position lock; clocks may step back).
fn recorded_at(last: Option<DateTime<Utc>>) -> DateTime<Utc> {
    // Microseconds: what both backends store.
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_default();
    last.map_or(now, |last| now.max(last))
}

/// One append inside a transaction that holds the position lock (when it
/// writes): look up keys and versions, plan, insert, report.
pub(super) async fn append_in(
    tx: &mut WriteTx,
    db: &Database,
    appends: &[StreamAppend],
) -> Result<Vec<AppendOutcome>, StoreError> {
    let mut outcomes = looked_up(append_members(tx, db, &[appends], Keys::LookUp).await?)?;
    outcomes.pop().unwrap_or_else(|| Ok(Vec::new()))
}

/// The outcome of [`append_members`] with [`Keys::LookUp`], which is never
/// told to look its keys up.
pub(super) fn looked_up<T>(outcome: Option<T>) -> Result<T, StoreError> {
    outcome.ok_or_else(|| {
        StoreError::Corrupt("an append that looked up its keys was told to look them up".into())
    })
}

/// Every event of the members, in [`Row::index`](super::plan::Row) order.
pub(super) fn events<'a>(
    members: &'a [&'a [StreamAppend]],
) -> impl Iterator<Item = &'a NewEvent> + 'a {
    members
        .iter()
        .flat_map(|m| m.iter())
        .flat_map(|a| &a.events)
}

/// How an append learns which of its idempotency keys are already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keys {
    /// Look them up before planning.
    LookUp,
    /// Plan as if none were, and as if every stream this process has seen
    /// committed were still at the version it saw (`seen.rs`; streams it
    /// has not seen are looked up), and let the unique indexes tell: if
    /// the insert succeeds, no key was stored and every guessed version was
    /// right (each guessed stream gets a row at `guess + 1`), and the plan
    /// is the one the lookup would have made. If the insert is refused (a
    /// stored key, a retry's stored event id, a stream that moved on), any
    /// member's expected version fails (perhaps only against the guess),
    /// or a guessed stream gets no row to check it, the caller is told to
    /// roll back and run again with [`Keys::LookUp`]. For large batches of
    /// new keys to known streams this saves one index probe per key and
    /// per stream.
    Assume,
}

/// Several members (callers' batches) inside one transaction that holds
/// the position lock: one lookup of every member's keys, one of every
/// member's stream versions, each member planned after the ones before it
/// (its own outcome: a conflict takes out that member alone), and one
/// insert of every row. An error (say, an event id already stored) means
/// the insert failed and the transaction must be rolled back.
///
/// `None` when `keys` is [`Keys::Assume`] and the guess was wrong: the
/// transaction must be rolled back and the append run with
/// [`Keys::LookUp`].
pub(super) async fn append_members(
    tx: &mut WriteTx,
    db: &Database,
    members: &[&[StreamAppend]],
    keys_stored: Keys,
) -> Result<Option<Vec<Result<Vec<AppendOutcome>, StoreError>>>, StoreError> {
    let mut streams: Vec<&StreamId> = members
        .iter()
        .flat_map(|m| m.iter())
        .map(|a| &a.stream_id)
        .collect();
    streams.sort_unstable();
    streams.dedup();
    // Assuming, take the versions this process saw last as the guess too.
    let (guessed, streams) = match keys_stored {
        Keys::Assume => db.group_commit().seen().split(streams),
        Keys::LookUp => (HashMap::new(), streams),
    };
    let streams: Vec<String> = streams.into_iter().map(StreamId::to_string).collect();
    let keys: Vec<String> = match keys_stored {
        Keys::LookUp => events(members)
            .filter_map(|e| e.idempotency_key.clone())
            .collect(),
        Keys::Assume => Vec::new(),
    };
    // The events' metadata is written while the database answers the
    // lookup: `join!` polls the lookup first, which sends it, then
    // serialises.
    let (known, metadata) = futures::join!(known(tx, db, keys, streams), async {
        MetadataJson::of(members)
    });
    let (known, metadata) = (known?, metadata?);
    let mut versions = known.versions;
    versions.extend(
        guessed
            .iter()
            .map(|(stream, &version)| (stream.clone(), version)),
    );
    let mut plan = Plan::new(&known.keys, versions);
    let planned: Vec<_> = members.iter().map(|m| plan.member(m)).collect();
    if keys_stored == Keys::Assume {
        // A conflict may be only the guess's: stored keys (a retry is
        // duplicates whatever its expectation), an earlier member's stored
        // keys, or a remembered version that is behind. Look them up.
        let conflict = planned.iter().any(Result::is_err);
        // Only an inserted row checks a guessed version (the unique index
        // refuses `guess + 1` if the stream moved on): a guessed stream
        // that gets no row, whose version would be reported unchecked, is
        // looked up.
        let written: HashSet<&StreamId> = plan.rows.iter().map(|r| r.stream_id).collect();
        let unchecked = guessed.keys().any(|stream| !written.contains(stream));
        if conflict || unchecked {
            return Ok(None);
        }
    }
    let mut positions = HashMap::new();
    if !plan.rows.is_empty() {
        let at = recorded_at(known.last_recorded_at);
        positions = match insert::insert(tx, &plan.rows, &metadata, at).await {
            // A stored key, or a retry's stored event id (whichever index
            // the database checks first).
            Err(StoreError::UniqueViolation { .. }) if keys_stored == Keys::Assume => {
                return Ok(None)
            }
            inserted => inserted?,
        };
    }
    plan.finish(planned, &positions).map(Some)
}

/// The metadata of each of a transaction's events as JSON text, in
/// [`Row::index`](super::plan::Row) order (members, streams, events), ready
/// for either backend's insert (payloads are text already).
pub(super) struct MetadataJson(Vec<String>);

impl MetadataJson {
    fn of(members: &[&[StreamAppend]]) -> Result<Self, StoreError> {
        let json = events(members)
            .map(|e| serde_json::to_string(&e.metadata))
            .collect::<Result<_, _>>()?;
        Ok(Self(json))
    }

    pub(super) fn of_row(&self, row: &super::plan::Row<'_>) -> &str {
        &self.0[row.index]
    }
}

#[async_trait]
impl EventStore for SqlStore {
    #[tracing::instrument(skip_all, fields(streams = appends.len()))]
    async fn append_batch(
        &self,
        appends: Vec<StreamAppend>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        validate(&appends)?;
        if appends.iter().any(|a| !a.events.is_empty()) {
            // Writes commit together with whatever else is appending now.
            return self.db.group_commit().append(&self.db, appends).await;
        }
        // Only version checks: no lock, no group.
        let mut tx = self.db.begin_write().await?;
        let outcome = append_in(&mut tx, &self.db, &appends).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from_version: i64,
        limit_: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM event WHERE stream_id = $1 AND stream_version >= $2 \
             ORDER BY stream_version LIMIT $3"
        );
        let rows = self
            .db
            .query_as(&sql)
            .bind(stream_id.as_str())
            .bind(from_version)
            .bind(limit(limit_))
            .fetch_all()
            .await?;
        decode_all(rows)
    }

    async fn stream_version(&self, stream_id: &StreamId) -> Result<i64, StoreError> {
        let (version,): (Option<i64>,) = self
            .db
            .query_as(
                "SELECT (SELECT stream_version FROM event WHERE stream_id = $1 \
                 ORDER BY stream_version DESC LIMIT 1)",
            )
            .bind(stream_id.as_str())
            .fetch_one()
            .await?;
        Ok(version.unwrap_or(0))
    }

    async fn read_all(
        &self,
        after_position: i64,
        limit_: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM event WHERE global_position > $1 \
             ORDER BY global_position LIMIT $2"
        );
        let rows = self
            .db
            .query_as(&sql)
            .bind(after_position)
            .bind(limit(limit_))
            .fetch_all()
            .await?;
        decode_all(rows)
    }

    async fn replay_page(
        &self,
        after_position: i64,
        through: i64,
        limit_: u32,
    ) -> Result<Vec<ReplayedEvent>, StoreError> {
        type ReplayRow = (i64, DbTime, Option<String>, String, i32, JsonText);
        /// Rows decoded per blocking task.
        const DECODE_CHUNK: usize = 1_000;
        fn decode(rows: Vec<ReplayRow>) -> Result<Vec<ReplayedEvent>, StoreError> {
            rows.into_iter()
                .map(|(p, at, org, t, v, payload)| super::replayed(p, at.0, org, &t, v, &payload.0))
                .collect()
        }
        if let Some(pool) = self.db.postgres_pool() {
            let range = (after_position, through, limit(limit_));
            return super::copy::replay_page(pool, range, DECODE_CHUNK).await;
        }
        // Rows are handed, a chunk at a time, to blocking tasks that decode
        // them while the database is still producing the rest of the page.
        let mut rows = self
            .db
            .query_as::<ReplayRow>(
                "SELECT global_position, occurred_at, org_id, event_type, schema_version, payload \
                 FROM event WHERE global_position > $1 AND global_position <= $2 \
                 ORDER BY global_position LIMIT $3",
            )
            .bind(after_position)
            .bind(through)
            .bind(limit(limit_))
            .fetch();
        let mut decoding = Vec::new();
        let mut chunk = Vec::with_capacity(DECODE_CHUNK);
        while let Some(row) = rows.try_next().await? {
            chunk.push(row);
            if chunk.len() == DECODE_CHUNK {
                let rows = std::mem::replace(&mut chunk, Vec::with_capacity(DECODE_CHUNK));
                decoding.push(tokio::task::spawn_blocking(move || decode(rows)));
            }
        }
        drop(rows);
        if !chunk.is_empty() {
            decoding.push(tokio::task::spawn_blocking(move || decode(chunk)));
        }
        let mut events = Vec::with_capacity(limit(limit_) as usize);
        for task in decoding {
            let decoded = task.await.map_err(|e| {
                StoreError::Database(sqlx::Error::Protocol(format!("decode task: {e}")))
            })?;
            events.extend(decoded?);
        }
        Ok(events)
    }

    fn replay_reads_at_once(&self) -> usize {
        if self.db.postgres_pool().is_some() {
            2
        } else {
            1
        }
    }

    async fn read_audit(&self, query: &AuditQuery) -> Result<Page<RecordedEvent>, StoreError> {
        query.validate()?;
        let page_limit = query.limit.clamp(1, MAX_READ_LIMIT);
        let audit = AuditSql::new(query, &self.db);
        let mut select = self.db.query_as::<EventRow>(&audit.sql);
        for arg in audit.args {
            select = match arg {
                Arg::Int(v) => select.bind(v),
                Arg::Text(v) => select.bind(v),
                Arg::List(v) => select.bind(v),
                Arg::Time(v) => select.bind(v),
            };
        }
        let rows = select.bind(i64::from(page_limit) + 1).fetch_all().await?;
        super::page(decode_all(rows)?, page_limit)
    }

    async fn event_by_id(&self, event_id: uuid::Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM event WHERE event_id = $1");
        let row: Option<EventRow> = self
            .db
            .query_as(&sql)
            .bind(DbUuid(event_id))
            .fetch_optional()
            .await?;
        row.map(RecordedEvent::try_from).transpose()
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let (head,): (Option<i64>,) = self
            .db
            .query_as("SELECT max(global_position) FROM event")
            .fetch_one()
            .await?;
        Ok(head.unwrap_or(0))
    }
}

/// A parameter of the audit query, in binding order.
enum Arg {
    Int(i64),
    Text(String),
    List(DbList),
    Time(DbTime),
}

/// The audit query's text and parameters (the last one, the limit, is
/// bound by the caller).
struct AuditSql {
    sql: String,
    args: Vec<Arg>,
}

impl AuditSql {
    fn new(query: &AuditQuery, db: &Database) -> Self {
        let dialect = db.dialect();
        let mut audit = Self {
            sql: format!("SELECT {COLUMNS} FROM event WHERE org_id = $1"),
            args: vec![Arg::Text(query.org_id.clone())],
        };
        if let Some(min) = query.min_position {
            audit.condition(|p| format!("global_position > {p}"), Arg::Int(min));
        }
        if let Some(max) = query.max_position {
            audit.condition(|p| format!("global_position <= {p}"), Arg::Int(max));
        }
        for (field, values) in &query.payload_equals {
            let field_param = audit.param(Arg::Text(field.clone()));
            audit.condition(
                |p| dialect.in_list(&dialect.json_field_text("payload", &field_param), &p),
                Arg::List(DbList(values.clone())),
            );
        }
        if !query.event_types.is_empty() {
            audit.condition(
                |p| dialect.in_list("event_type", &p),
                Arg::List(DbList(query.event_types.clone())),
            );
        }
        if let Some(from) = query.occurred_from {
            audit.condition(|p| format!("occurred_at >= {p}"), Arg::Time(DbTime(from)));
        }
        if let Some(to) = query.occurred_to {
            audit.condition(|p| format!("occurred_at < {p}"), Arg::Time(DbTime(to)));
        }
        let (cmp, order) = match query.direction {
            Direction::Forward => (">", "ASC"),
            Direction::Backward => ("<", "DESC"),
        };
        if let Some(cursor) = query.cursor {
            audit.condition(|p| format!("global_position {cmp} {p}"), Arg::Int(cursor));
        }
        let limit = format!("${}", audit.args.len() + 1);
        audit.sql += &format!(" ORDER BY global_position {order} LIMIT {limit}");
        audit
    }

    /// Add a parameter; its placeholder.
    fn param(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// `AND <condition>` over a new parameter.
    fn condition(&mut self, condition: impl FnOnce(String) -> String, arg: Arg) {
        let placeholder = self.param(arg);
        self.sql += " AND ";
        self.sql += &condition(placeholder);
    }
}
