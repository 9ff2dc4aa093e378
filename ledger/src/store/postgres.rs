//! The PostgreSQL backend: UNNEST batch inserts, gap safety through an
//! advisory lock held from position assignment to commit.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{
    plan_appends, validate, AppendOutcome, AuditQuery, Direction, EventStore, Existing, Page,
    StoreError, StreamAppend, MAX_READ_LIMIT,
};
use crate::event::{RecordedEvent, StreamId};

/// Key of the transaction-scoped advisory lock every append holds while it
/// draws global positions ("ledger" in ASCII).
const APPEND_LOCK_KEY: i64 = 0x6c65_6467_6572;

macro_rules! columns {
    () => {
        "global_position, event_id, stream_id, stream_version, event_type, schema_version, \
         org_id, payload, metadata, occurred_at, recorded_at, idempotency_key"
    };
}

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn versions(
        conn: &mut sqlx::PgConnection,
        streams: &[String],
    ) -> Result<HashMap<StreamId, i64>, StoreError> {
        let rows: Vec<(String, Option<i64>)> =
            sqlx::query_as(include_str!("postgres_versions.sql"))
                .bind(streams)
                .fetch_all(conn)
                .await?;
        rows.into_iter()
            .map(|(s, v)| Ok((stream_id(s)?, v.unwrap_or(0))))
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    global_position: i64,
    event_id: Uuid,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    schema_version: i32,
    org_id: Option<String>,
    payload: serde_json::Value,
    metadata: serde_json::Value,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    idempotency_key: Option<String>,
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = StoreError;
    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        Ok(RecordedEvent {
            event_id: row.event_id,
            stream_id: stream_id(row.stream_id)?,
            stream_version: row.stream_version,
            global_position: row.global_position,
            event_type: row.event_type,
            schema_version: row.schema_version,
            org_id: row.org_id,
            payload: row.payload,
            metadata: serde_json::from_value(row.metadata)?,
            occurred_at: row.occurred_at,
            recorded_at: row.recorded_at,
            idempotency_key: row.idempotency_key,
        })
    }
}

fn stream_id(raw: String) -> Result<StreamId, StoreError> {
    StreamId::new(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_all(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(RecordedEvent::try_from).collect()
}

#[async_trait]
impl EventStore for PostgresStore {
    #[tracing::instrument(skip_all, fields(streams = appends.len()))]
    async fn append_batch(
        &self,
        appends: Vec<StreamAppend>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        validate(&appends)?;
        let streams: Vec<String> = appends.iter().map(|a| a.stream_id.to_string()).collect();
        let keys: Vec<&str> = appends
            .iter()
            .flat_map(|a| &a.events)
            .filter_map(|e| e.idempotency_key.as_deref())
            .collect();
        let mut tx = self.pool.begin().await?;
        if appends.iter().any(|a| !a.events.is_empty()) {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(APPEND_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
        }
        let mut stored = HashMap::new();
        if !keys.is_empty() {
            let rows: Vec<(String, Uuid, String, i64, i64)> = sqlx::query_as(
                "SELECT idempotency_key, event_id, stream_id, stream_version, global_position \
                 FROM event WHERE idempotency_key = ANY($1)",
            )
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await?;
            for (key, event_id, stream, stream_version, global_position) in rows {
                let existing = Existing {
                    event_id,
                    stream_id: stream_id(stream)?,
                    stream_version,
                    global_position,
                };
                stored.insert(key, existing);
            }
        }
        let versions = Self::versions(&mut tx, &streams).await?;
        let planned = plan_appends(&appends, &stored, &versions)?;
        let mut positions = HashMap::with_capacity(planned.rows.len());
        if !planned.rows.is_empty() {
            let n = planned.rows.len();
            let mut ids = Vec::with_capacity(n);
            let mut stream_ids = Vec::with_capacity(n);
            let mut stream_versions = Vec::with_capacity(n);
            let mut types = Vec::with_capacity(n);
            let mut schemas = Vec::with_capacity(n);
            let mut orgs = Vec::with_capacity(n);
            let mut payloads = Vec::with_capacity(n);
            let mut metadata = Vec::with_capacity(n);
            let mut occurred = Vec::with_capacity(n);
            let mut idempotency = Vec::with_capacity(n);
            for row in &planned.rows {
                let e = row.event;
                ids.push(e.event_id);
                stream_ids.push(row.stream_id.as_str());
                stream_versions.push(row.stream_version);
                types.push(e.event_type.as_str());
                schemas.push(e.schema_version);
                orgs.push(e.org_id.as_deref());
                payloads.push(&e.payload);
                metadata.push(serde_json::to_value(&e.metadata)?);
                occurred.push(e.occurred_at);
                idempotency.push(e.idempotency_key.as_deref());
            }
            let inserted: Vec<(Uuid, i64)> = sqlx::query_as(include_str!("postgres_insert.sql"))
                .bind(&ids)
                .bind(&stream_ids)
                .bind(&stream_versions)
                .bind(&types)
                .bind(&schemas)
                .bind(&orgs)
                .bind(&payloads)
                .bind(&metadata)
                .bind(&occurred)
                .bind(&idempotency)
                .fetch_all(&mut *tx)
                .await?;
            positions.extend(inserted);
        }
        tx.commit().await?;
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
            " FROM event WHERE stream_id = $1 AND stream_version >= $2 \
             ORDER BY stream_version LIMIT $3"
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
        let versions = Self::versions(&mut conn, &[stream_id.to_string()]).await?;
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
            " FROM event WHERE global_position > $1 ORDER BY global_position LIMIT $2"
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
        let rows: Vec<(i64, DateTime<Utc>, Option<String>, String, i32, String)> = sqlx::query_as(
            "SELECT global_position, occurred_at, org_id, event_type, schema_version, payload::text \
             FROM event WHERE global_position > $1 ORDER BY global_position LIMIT $2",
        )
        .bind(after_position)
        .bind(i64::from(limit.min(MAX_READ_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(p, at, org, t, v, payload)| super::replayed(p, at, org, &t, v, &payload))
            .collect()
    }

    async fn read_audit(&self, query: &AuditQuery) -> Result<Page<RecordedEvent>, StoreError> {
        query.validate()?;
        let limit = query.limit.clamp(1, MAX_READ_LIMIT);
        let mut sql = QueryBuilder::<Postgres>::new(concat!(
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
            sql.push(" AND payload ->> ")
                .push_bind(field)
                .push(" = ANY(")
                .push_bind(values)
                .push(")");
        }
        if !query.event_types.is_empty() {
            sql.push(" AND event_type = ANY(")
                .push_bind(&query.event_types)
                .push(")");
        }
        if let Some(from) = query.occurred_from {
            sql.push(" AND occurred_at >= ").push_bind(from);
        }
        if let Some(to) = query.occurred_to {
            sql.push(" AND occurred_at < ").push_bind(to);
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
            " FROM event WHERE event_id = $1"
        ))
        .bind(event_id)
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
