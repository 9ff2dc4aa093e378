//! The two statements of an append that are written per backend, because
//! that is what makes them fast: taking the position lock, and the bulk
//! insert (PostgreSQL: binary `COPY` of rows whose positions were drawn
//! first; SQLite: multi-row `VALUES` with bound parameters, since sqlx's
//! SQLite driver costs 40–70 µs per statement). Everything else an append
//! does is shared (`sql.rs`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::copy::CopyRows;
use super::plan::Row;
use super::sql::MetadataJson;
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
    metadata: &MetadataJson,
    recorded_at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    match tx.conn() {
        Conn::Postgres(conn) => insert_postgres(conn, rows, metadata, recorded_at).await,
        Conn::Sqlite(conn) => insert_sqlite(conn, rows, metadata, recorded_at).await,
    }
}

/// The columns an append copies, in [`insert_postgres`]'s order.
const POSTGRES_COPY: &str = "COPY event (global_position, event_id, stream_id, stream_version, \
     event_type, schema_version, org_id, payload, metadata, occurred_at, idempotency_key, \
     recorded_at) FROM STDIN (FORMAT binary)";

/// Draw the rows' positions from the identity column's sequence, then
/// binary `COPY` the rows with them. `COPY` is PostgreSQL's fastest insert
/// (PERFORMANCE.md: 85k rows/s against 51–55k through `UNNEST` and 76k
/// through multi-row `VALUES`) but returns nothing, hence the positions
/// are drawn first — under the position lock, so they are the next ones in
/// order, and a copy writes an identity column's values as given. A failed
/// copy (an event id already stored) leaves the drawn numbers unused:
/// positions are not gapless.
async fn insert_postgres(
    conn: &mut sqlx::PgConnection,
    rows: &[Row<'_>],
    metadata: &MetadataJson,
    recorded_at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    // One call draws the whole range: the next value, then the sequence
    // moved on to the range's last. Only appends, under the position lock,
    // draw from this sequence; anything else drawing in between would take
    // a number of this range, and one of the two inserts would be refused
    // by the primary key, never a position given twice.
    let (last,): (i64,) = sqlx::query_as(
        "SELECT setval('event_global_position_seq', \
                       nextval('event_global_position_seq') + $1::int8 - 1)",
    )
    .bind(n)
    .fetch_one(&mut *conn)
    .await?;
    let positions = last - n + 1..=last;
    let mut copy = CopyRows::new(rows.len() * 512);
    for (row, position) in rows.iter().zip(positions.clone()) {
        let e = row.event;
        copy.row(12);
        copy.int8(position);
        copy.uuid(e.event_id);
        copy.text(Some(row.stream_id.as_str()))?;
        copy.int8(row.stream_version);
        copy.text(Some(&e.event_type))?;
        copy.int4(e.schema_version);
        copy.text(e.org_id.as_deref())?;
        copy.jsonb(e.payload.as_str())?;
        copy.jsonb(metadata.of_row(row))?;
        copy.timestamptz(e.occurred_at)?;
        copy.text(e.idempotency_key.as_deref())?;
        copy.timestamptz(recorded_at)?;
    }
    let mut into = conn.copy_in_raw(POSTGRES_COPY).await?;
    into.send(copy.finish()).await?;
    into.finish().await?;
    Ok(rows
        .iter()
        .map(|row| row.event.event_id)
        .zip(positions)
        .collect())
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
    metadata: &MetadataJson,
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
                .bind(e.payload.as_str())
                .bind(metadata.of_row(row))
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
