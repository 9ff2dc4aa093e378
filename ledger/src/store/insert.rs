//! The two statements of an append that are written per backend, because
//! that is what makes them fast: taking the position lock, and the bulk
//! insert (PostgreSQL: parallel arrays through `UNNEST`; SQLite: one JSON
//! array through `json_each`, since sqlx's SQLite driver costs 40–70 µs per
//! statement). Everything else an append does is shared (`sql.rs`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::plan::Row;
use super::StoreError;
use crate::db::{format_timestamp, Conn, Database, WriteTx};
use crate::event::EventMetadata;

/// Begin a write transaction that serialises position assignment until it
/// commits. On PostgreSQL: `BEGIN` and the transaction-scoped advisory lock
/// every append holds from drawing positions to commit (released only once
/// the commit is visible), sent together in one round trip; its key is
/// "ledger" in ASCII. On SQLite the write transaction already holds the
/// only write lock there is.
pub(super) async fn begin_locked(db: &Database) -> Result<WriteTx, StoreError> {
    db.begin_write_with("BEGIN; SELECT pg_advisory_xact_lock(119182731994482)")
        .await
}

/// Insert the planned rows; their global positions by event id.
pub(super) async fn insert(
    tx: &mut WriteTx,
    rows: &[Row<'_>],
    recorded_at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    match tx.conn() {
        Conn::Postgres(conn) => insert_postgres(conn, rows, recorded_at).await,
        Conn::Sqlite(conn) => insert_sqlite(conn, rows, recorded_at).await,
    }
}

async fn insert_postgres(
    conn: &mut sqlx::PgConnection,
    rows: &[Row<'_>],
    recorded_at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let n = rows.len();
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
    for row in rows {
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
        .bind(recorded_at)
        .fetch_all(conn)
        .await?;
    Ok(inserted.into_iter().collect())
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

async fn insert_sqlite(
    conn: &mut sqlx::SqliteConnection,
    rows: &[Row<'_>],
    recorded_at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let recorded_at = format_timestamp(recorded_at);
    let rows: Vec<InsertRow<'_>> = rows
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
        .fetch_all(conn)
        .await?;
    inserted
        .into_iter()
        .map(|(id, position)| {
            let id = Uuid::parse_str(&id)
                .map_err(|e| StoreError::Corrupt(format!("event id `{id}`: {e}")))?;
            Ok((id, position))
        })
        .collect()
}
