//! The two statements of an append that are written per backend, because
//! that is what makes them fast: taking the position lock, and the bulk
//! insert (PostgreSQL: parallel arrays through `UNNEST`; SQLite: multi-row
//! `VALUES` with bound parameters, since sqlx's SQLite driver costs 40–70 µs
//! per statement). Everything else an append does is shared (`sql.rs`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::plan::Row;
use super::StoreError;
use crate::db::{format_timestamp, Backend, Conn, Database, Dialect, WriteTx};

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

/// Parallel arrays through `UNNEST`: one statement whatever the batch's
/// size. (Multi-row `VALUES` with bound parameters, faster in isolation per
/// PERFORMANCE.md, made the whole append slower: 0.64 of raw `COPY`
/// against 0.70, measured.)
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

/// Rows per multi-row `INSERT` on SQLite: eleven bound parameters each, far
/// under SQLite's limit of 32,766, and large enough that the per-statement
/// cost of sqlx's driver (40–70 µs) is spread over many rows.
const SQLITE_ROWS_PER_INSERT: usize = 500;

/// `INSERT … VALUES (?, …), … RETURNING` for `rows` rows of the columns
/// bound in [`insert_sqlite`], in that order (anonymous `?`: see
/// [`Dialect::values`]).
fn sqlite_insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO event (event_id, stream_id, stream_version, event_type, schema_version, \
         org_id, payload, metadata, occurred_at, recorded_at, idempotency_key) VALUES {} \
         RETURNING event_id, global_position",
        Dialect(Backend::Sqlite).values(rows, 11)
    )
}

/// Multi-row `VALUES` with bound parameters, in chunks: the rows keep
/// their order, so their positions (the rowid) follow the batch.
async fn insert_sqlite(
    conn: &mut sqlx::SqliteConnection,
    rows: &[Row<'_>],
    recorded_at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let recorded_at = format_timestamp(recorded_at);
    let mut positions = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(SQLITE_ROWS_PER_INSERT) {
        let sql = sqlite_insert_sql(chunk.len());
        let mut insert = sqlx::query_as::<_, (String, i64)>(&sql);
        for row in chunk {
            let e = row.event;
            insert = insert
                .bind(e.event_id.hyphenated().to_string())
                .bind(row.stream_id.as_str())
                .bind(row.stream_version)
                .bind(e.event_type.as_str())
                .bind(e.schema_version)
                .bind(e.org_id.as_deref())
                .bind(serde_json::to_string(&e.payload)?)
                .bind(serde_json::to_string(&e.metadata)?)
                .bind(format_timestamp(e.occurred_at))
                .bind(recorded_at.as_str())
                .bind(e.idempotency_key.as_deref());
        }
        for (id, position) in insert.fetch_all(&mut *conn).await? {
            let id = Uuid::parse_str(&id)
                .map_err(|e| StoreError::Corrupt(format!("event id `{id}`: {e}")))?;
            positions.insert(id, position);
        }
    }
    Ok(positions)
}
