//! The SQLite backend (WAL): one statement per batch through `json_each`,
//! writers serialised in-process and by `BEGIN IMMEDIATE` across processes.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

use super::{
    format_timestamp, plan_appends, validate, AppendOutcome, AuditQuery, Direction, EventStore,
    Existing, Page, StoreError, StreamAppend, MAX_READ_LIMIT,
};
use crate::event::{EventMetadata, RecordedEvent, StreamId};

macro_rules! columns {
    () => {
        "global_position, event_id, stream_id, stream_version, event_type, schema_version, \
         org_id, payload, metadata, occurred_at, recorded_at, idempotency_key"
    };
}

/// Cheap to clone; clones share the pool and the writer lock.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<Mutex<()>>,
}

/// A write transaction holding the in-process writer lock; SQLite allows
/// one writer, so queuing here beats spinning on `SQLITE_BUSY`.
pub struct WriteTx<'a> {
    pub tx: Transaction<'static, Sqlite>,
    _writer: MutexGuard<'a, ()>,
}

impl SqliteStore {
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            writer: Arc::new(Mutex::new(())),
        }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Begin a write transaction (`BEGIN IMMEDIATE`) behind the writer lock.
    /// Anything else that writes to this database should use it too.
    pub async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let guard = self.writer.lock().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _writer: guard })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    global_position: i64,
    event_id: String,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    schema_version: i32,
    org_id: Option<String>,
    payload: String,
    metadata: String,
    occurred_at: String,
    recorded_at: String,
    idempotency_key: Option<String>,
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {err}"))
}

fn timestamp(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt("timestamp", e))
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = StoreError;
    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        let metadata: EventMetadata = serde_json::from_str(&row.metadata)?;
        Ok(RecordedEvent {
            event_id: Uuid::parse_str(&row.event_id).map_err(|e| corrupt("event id", e))?,
            stream_id: StreamId::new(row.stream_id).map_err(|e| corrupt("stream id", e))?,
            stream_version: row.stream_version,
            global_position: row.global_position,
            event_type: row.event_type,
            schema_version: row.schema_version,
            org_id: row.org_id,
            payload: serde_json::from_str(&row.payload)?,
            metadata,
            occurred_at: timestamp(&row.occurred_at)?,
            recorded_at: timestamp(&row.recorded_at)?,
            idempotency_key: row.idempotency_key,
        })
    }
}

fn decode_all(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(RecordedEvent::try_from).collect()
}

/// One row of the JSON array that `sqlite_insert.sql` unpacks.
#[derive(Serialize)]
struct InsertRow<'a> {
    event_id: String,
    stream_id: &'a str,
    stream_version: i64,
    event_type: &'a str,
    schema_version: i32,
    org_id: Option<&'a str>,
    payload: &'a serde_json::Value,
    metadata: &'a EventMetadata,
    occurred_at: String,
    recorded_at: &'a str,
    idempotency_key: Option<&'a str>,
}

async fn versions(
    conn: &mut sqlx::SqliteConnection,
    streams: &[&str],
) -> Result<HashMap<StreamId, i64>, StoreError> {
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT s.value, (SELECT max(e.stream_version) FROM event e WHERE e.stream_id = s.value) \
         FROM json_each(?1) AS s",
    )
    .bind(serde_json::to_string(streams)?)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(s, v)| {
            Ok((
                StreamId::new(s).map_err(|e| corrupt("stream id", e))?,
                v.unwrap_or(0),
            ))
        })
        .collect()
}

#[async_trait]
impl EventStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(streams = appends.len()))]
    async fn append_batch(
        &self,
        appends: Vec<StreamAppend>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        validate(&appends)?;
        let streams: Vec<&str> = appends.iter().map(|a| a.stream_id.as_str()).collect();
        let keys: Vec<&str> = appends
            .iter()
            .flat_map(|a| &a.events)
            .filter_map(|e| e.idempotency_key.as_deref())
            .collect();
        let mut write = self.begin_write().await?;
        let tx = &mut write.tx;
        let mut stored = HashMap::new();
        if !keys.is_empty() {
            let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
                "SELECT idempotency_key, event_id, stream_id, stream_version, global_position \
                 FROM event WHERE idempotency_key IN (SELECT value FROM json_each(?1))",
            )
            .bind(serde_json::to_string(&keys)?)
            .fetch_all(&mut **tx)
            .await?;
            for (key, event_id, stream, stream_version, global_position) in rows {
                let existing = Existing {
                    event_id: Uuid::parse_str(&event_id).map_err(|e| corrupt("event id", e))?,
                    stream_id: StreamId::new(stream).map_err(|e| corrupt("stream id", e))?,
                    stream_version,
                    global_position,
                };
                stored.insert(key, existing);
            }
        }
        let versions = versions(tx, &streams).await?;
        let planned = plan_appends(&appends, &stored, &versions)?;
        let mut positions = HashMap::with_capacity(planned.rows.len());
        if !planned.rows.is_empty() {
            let recorded_at = format_timestamp(Utc::now());
            let rows: Vec<InsertRow<'_>> = planned
                .rows
                .iter()
                .map(|row| InsertRow {
                    event_id: row.event.event_id.hyphenated().to_string(),
                    stream_id: row.stream_id.as_str(),
                    stream_version: row.stream_version,
                    event_type: &row.event.event_type,
                    schema_version: row.event.schema_version,
                    org_id: row.event.org_id.as_deref(),
                    payload: &row.event.payload,
                    metadata: &row.event.metadata,
                    occurred_at: format_timestamp(row.event.occurred_at),
                    recorded_at: &recorded_at,
                    idempotency_key: row.event.idempotency_key.as_deref(),
                })
                .collect();
            let inserted: Vec<(String, i64)> = sqlx::query_as(include_str!("sqlite_insert.sql"))
                .bind(serde_json::to_string(&rows)?)
                .fetch_all(&mut **tx)
                .await?;
            for (event_id, position) in inserted {
                let id = Uuid::parse_str(&event_id).map_err(|e| corrupt("event id", e))?;
                positions.insert(id, position);
            }
        }
        write.tx.commit().await?;
        planned.finish(&positions)
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from_version: i64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM event WHERE stream_id = ?1 AND stream_version >= ?2 \
             ORDER BY stream_version LIMIT ?3"
        ))
        .bind(stream_id.as_str())
        .bind(from_version)
        .bind(i64::from(limit.min(MAX_READ_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows)
    }

    async fn stream_version(&self, stream_id: &StreamId) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let versions = versions(&mut conn, &[stream_id.as_str()]).await?;
        Ok(versions.get(stream_id).copied().unwrap_or(0))
    }

    async fn read_all(
        &self,
        after_position: i64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM event WHERE global_position > ?1 ORDER BY global_position LIMIT ?2"
        ))
        .bind(after_position)
        .bind(i64::from(limit.min(MAX_READ_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows)
    }

    async fn replay_page(
        &self,
        after_position: i64,
        limit: u32,
    ) -> Result<Vec<super::ReplayedEvent>, StoreError> {
        let rows: Vec<(i64, String, Option<String>, String, i32, String)> = sqlx::query_as(
            "SELECT global_position, occurred_at, org_id, event_type, schema_version, payload \
             FROM event WHERE global_position > ?1 ORDER BY global_position LIMIT ?2",
        )
        .bind(after_position)
        .bind(i64::from(limit.min(MAX_READ_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(p, at, org, t, v, payload)| {
                super::replayed(p, timestamp(&at)?, org, &t, v, &payload)
            })
            .collect()
    }

    async fn read_audit(&self, query: &AuditQuery) -> Result<Page<RecordedEvent>, StoreError> {
        query.validate()?;
        let limit = query.limit.clamp(1, MAX_READ_LIMIT);
        let mut sql = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            columns!(),
            " FROM event WHERE org_id = "
        ));
        sql.push_bind(&query.org_id);
        if let Some(min) = query.min_position {
            sql.push(" AND global_position > ").push_bind(min);
        }
        if let Some(max) = query.max_position {
            sql.push(" AND global_position <= ").push_bind(max);
        }
        for (field, values) in &query.payload_equals {
            // CAST: compare the field's text form, as PostgreSQL's `->>` does.
            sql.push(" AND CAST(json_extract(payload, ")
                .push_bind(format!("$.{field}"))
                .push(") AS TEXT) IN (SELECT value FROM json_each(")
                .push_bind(serde_json::to_string(values)?)
                .push("))");
        }
        if !query.event_types.is_empty() {
            sql.push(" AND event_type IN (SELECT value FROM json_each(")
                .push_bind(serde_json::to_string(&query.event_types)?)
                .push("))");
        }
        if let Some(from) = query.occurred_from {
            sql.push(" AND occurred_at >= ")
                .push_bind(format_timestamp(from));
        }
        if let Some(to) = query.occurred_to {
            sql.push(" AND occurred_at < ")
                .push_bind(format_timestamp(to));
        }
        let (cmp, order) = match query.direction {
            Direction::Forward => (" > ", " ORDER BY global_position ASC"),
            Direction::Backward => (" < ", " ORDER BY global_position DESC"),
        };
        if let Some(cursor) = query.cursor {
            sql.push(" AND global_position").push(cmp).push_bind(cursor);
        }
        sql.push(order)
            .push(" LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows: Vec<EventRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        super::page(decode_all(rows)?, limit)
    }

    async fn event_by_id(&self, event_id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let row: Option<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM event WHERE event_id = ?1"
        ))
        .bind(event_id.hyphenated().to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(RecordedEvent::try_from).transpose()
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let (head,): (Option<i64>,) = sqlx::query_as("SELECT max(global_position) FROM event")
            .fetch_one(&self.pool)
            .await?;
        Ok(head.unwrap_or(0))
    }
}
