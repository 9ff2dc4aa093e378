//! Projection tables on SQLite: decimals as exact text, timestamps as
//! fixed-width UTC text, writes behind the store's writer lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger::store::format_timestamp;
use ledger::store::sqlite::SqliteStore;
use ledger::OrgId;
use serde::Serialize;
use sqlx::SqliteConnection;

use super::{label, Checkpoint, Commit, EndedPeriod, ProjectionTables, TableError};
use crate::fold::Invoice;

#[derive(Debug, Clone)]
pub struct SqliteTables {
    store: SqliteStore,
}

impl SqliteTables {
    pub fn new(store: &SqliteStore) -> Self {
        Self {
            store: store.clone(),
        }
    }

    async fn live(&self) -> Result<i64, TableError> {
        self.active_generation(super::INVOICES).await
    }
}

fn parse_time(raw: &str) -> Result<DateTime<Utc>, TableError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| TableError::Corrupt(format!("timestamp `{raw}`: {e}")))
}

fn decode(documents: Vec<(String,)>) -> Result<Vec<Invoice>, TableError> {
    documents
        .into_iter()
        .map(|(doc,)| serde_json::from_str(&doc).map_err(TableError::from))
        .collect()
}

/// One `invoice_line` row for the `json_each` insert.
#[derive(Serialize)]
struct LineRow<'a> {
    line_id: &'a str,
    ordinal: usize,
    kind: String,
    description: &'a str,
    meter: Option<&'a str>,
    price_id: Option<&'a str>,
    quantity: String,
    unit_price: Option<String>,
    amount: String,
    source: String,
}

async fn write_invoice(
    conn: &mut SqliteConnection,
    generation: i64,
    invoice: &Invoice,
) -> Result<(), TableError> {
    let start = format_timestamp(invoice.period_start);
    sqlx::query(
        "INSERT INTO invoice (generation, org_id, period_start, period_end, currency, status, \
         version, position, total, document) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (generation, org_id, period_start) DO UPDATE SET period_end = excluded.period_end, \
         currency = excluded.currency, status = excluded.status, version = excluded.version, \
         position = excluded.position, total = excluded.total, document = excluded.document",
    )
    .bind(generation)
    .bind(invoice.org_id.as_str())
    .bind(&start)
    .bind(format_timestamp(invoice.period_end))
    .bind(invoice.currency.code())
    .bind(label(&invoice.status)?)
    .bind(invoice.version)
    .bind(invoice.position)
    .bind(invoice.total.to_string())
    .bind(serde_json::to_string(invoice)?)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM invoice_line WHERE generation = ?1 AND org_id = ?2 AND period_start = ?3",
    )
    .bind(generation)
    .bind(invoice.org_id.as_str())
    .bind(&start)
    .execute(&mut *conn)
    .await?;
    if invoice.lines.is_empty() {
        return Ok(());
    }
    let rows = invoice
        .lines
        .iter()
        .enumerate()
        .map(|(ordinal, line)| {
            Ok(LineRow {
                line_id: &line.line_id,
                ordinal,
                kind: label(&line.kind)?,
                description: &line.description,
                meter: line.meter.as_deref(),
                price_id: line.price_id.as_deref(),
                quantity: line.quantity.to_string(),
                unit_price: line.unit_price.map(|p| p.to_string()),
                amount: line.amount.to_string(),
                source: serde_json::to_string(&line.source)?,
            })
        })
        .collect::<Result<Vec<_>, TableError>>()?;
    sqlx::query(
        "INSERT INTO invoice_line (generation, org_id, period_start, line_id, ordinal, kind, \
         description, meter, price_id, quantity, unit_price, amount, source) \
         SELECT ?1, ?2, ?3, json_extract(r.value, '$.line_id'), json_extract(r.value, '$.ordinal'), \
         json_extract(r.value, '$.kind'), json_extract(r.value, '$.description'), \
         json_extract(r.value, '$.meter'), json_extract(r.value, '$.price_id'), \
         json_extract(r.value, '$.quantity'), json_extract(r.value, '$.unit_price'), \
         json_extract(r.value, '$.amount'), json_extract(r.value, '$.source') \
         FROM json_each(?4) AS r",
    )
    .bind(generation)
    .bind(invoice.org_id.as_str())
    .bind(&start)
    .bind(serde_json::to_string(&rows)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl ProjectionTables for SqliteTables {
    async fn active_generation(&self, projection: &str) -> Result<i64, TableError> {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT active_generation FROM projection WHERE projection_name = ?1")
                .bind(projection)
                .fetch_optional(self.store.pool())
                .await?;
        if let Some((generation,)) = found {
            return Ok(generation);
        }
        let mut write = self.store.begin_write().await?;
        sqlx::query(
            "INSERT INTO projection (projection_name, active_generation, updated_at) \
             VALUES (?1, 1, ?2) ON CONFLICT (projection_name) DO NOTHING",
        )
        .bind(projection)
        .bind(format_timestamp(Utc::now()))
        .execute(&mut *write.tx)
        .await?;
        let (generation,): (i64,) =
            sqlx::query_as("SELECT active_generation FROM projection WHERE projection_name = ?1")
                .bind(projection)
                .fetch_one(&mut *write.tx)
                .await?;
        write.tx.commit().await?;
        Ok(generation)
    }

    async fn checkpoint(
        &self,
        projection: &str,
        generation: i64,
    ) -> Result<Checkpoint, TableError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT position, updated_at FROM projection_checkpoint \
             WHERE projection_name = ?1 AND generation = ?2",
        )
        .bind(projection)
        .bind(generation)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(match row {
            Some((position, updated_at)) => Checkpoint {
                generation,
                position,
                updated_at: parse_time(&updated_at)?,
            },
            None => Checkpoint {
                generation,
                position: 0,
                updated_at: DateTime::<Utc>::UNIX_EPOCH,
            },
        })
    }

    async fn load_states(
        &self,
        generation: i64,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, TableError> {
        Ok(sqlx::query_as(
            "SELECT state_key, state FROM projection_state WHERE generation = ?1 \
             AND state_key IN (SELECT value FROM json_each(?2))",
        )
        .bind(generation)
        .bind(serde_json::to_string(keys)?)
        .fetch_all(self.store.pool())
        .await?)
    }

    async fn org_states(
        &self,
        generation: i64,
        after_key: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, TableError> {
        Ok(sqlx::query_as(
            "SELECT state_key, state FROM projection_state WHERE generation = ?1 \
             AND state_key > ?2 AND state_key LIKE 'org:%' ORDER BY state_key LIMIT ?3",
        )
        .bind(generation)
        .bind(after_key)
        .bind(i64::from(limit))
        .fetch_all(self.store.pool())
        .await?)
    }

    async fn all_states(&self, generation: i64) -> Result<Vec<(String, String)>, TableError> {
        Ok(sqlx::query_as(
            "SELECT state_key, state FROM projection_state WHERE generation = ?1 ORDER BY state_key",
        )
        .bind(generation)
        .fetch_all(self.store.pool())
        .await?)
    }

    async fn commit(&self, projection: &str, commit: &Commit) -> Result<bool, TableError> {
        let mut write = self.store.begin_write().await?;
        let moved = sqlx::query(
            "INSERT INTO projection_checkpoint (projection_name, generation, position, updated_at) \
             VALUES (?1, ?2, ?4, ?5) ON CONFLICT (projection_name, generation) DO UPDATE \
             SET position = excluded.position, updated_at = excluded.updated_at \
             WHERE projection_checkpoint.position = ?3",
        )
        .bind(projection)
        .bind(commit.generation)
        .bind(commit.from_position)
        .bind(commit.to_position)
        .bind(format_timestamp(Utc::now()))
        .execute(&mut *write.tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(false);
        }
        if !commit.states.is_empty() {
            sqlx::query(
                "INSERT INTO projection_state (generation, state_key, state) \
                 SELECT ?1, json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]') \
                 FROM json_each(?2) AS r WHERE true \
                 ON CONFLICT (generation, state_key) DO UPDATE SET state = excluded.state",
            )
            .bind(commit.generation)
            .bind(serde_json::to_string(&commit.states)?)
            .execute(&mut *write.tx)
            .await?;
        }
        for invoice in &commit.invoices {
            write_invoice(&mut write.tx, commit.generation, invoice).await?;
        }
        write.tx.commit().await?;
        Ok(true)
    }

    async fn new_generation(&self, projection: &str) -> Result<i64, TableError> {
        let live = self.active_generation(projection).await?;
        let (max,): (Option<i64>,) = sqlx::query_as(
            "SELECT max(generation) FROM projection_checkpoint WHERE projection_name = ?1",
        )
        .bind(projection)
        .fetch_one(self.store.pool())
        .await?;
        let generation = max.unwrap_or(0).max(live) + 1;
        self.drop_generation(projection, generation).await?;
        Ok(generation)
    }

    async fn activate(&self, projection: &str, generation: i64) -> Result<i64, TableError> {
        let mut write = self.store.begin_write().await?;
        let (previous,): (i64,) =
            sqlx::query_as("SELECT active_generation FROM projection WHERE projection_name = ?1")
                .bind(projection)
                .fetch_one(&mut *write.tx)
                .await?;
        sqlx::query(
            "UPDATE projection SET active_generation = ?2, updated_at = ?3 WHERE projection_name = ?1",
        )
        .bind(projection)
        .bind(generation)
        .bind(format_timestamp(Utc::now()))
        .execute(&mut *write.tx)
        .await?;
        write.tx.commit().await?;
        Ok(previous)
    }

    async fn drop_generation(&self, projection: &str, generation: i64) -> Result<(), TableError> {
        let mut write = self.store.begin_write().await?;
        for table in ["invoice_line", "invoice", "projection_state"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE generation = ?1"))
                .bind(generation)
                .execute(&mut *write.tx)
                .await?;
        }
        sqlx::query(
            "DELETE FROM projection_checkpoint WHERE projection_name = ?1 AND generation = ?2",
        )
        .bind(projection)
        .bind(generation)
        .execute(&mut *write.tx)
        .await?;
        write.tx.commit().await?;
        Ok(())
    }

    async fn invoices(&self, generation: i64) -> Result<Vec<Invoice>, TableError> {
        decode(
            sqlx::query_as(
                "SELECT document FROM invoice WHERE generation = ?1 ORDER BY org_id, period_start",
            )
            .bind(generation)
            .fetch_all(self.store.pool())
            .await?,
        )
    }

    async fn invoice(
        &self,
        org: &OrgId,
        period_start: DateTime<Utc>,
    ) -> Result<Option<Invoice>, TableError> {
        let generation = self.live().await?;
        let rows = sqlx::query_as(
            "SELECT document FROM invoice WHERE generation = ?1 AND org_id = ?2 AND period_start = ?3",
        )
        .bind(generation)
        .bind(org.as_str())
        .bind(format_timestamp(period_start))
        .fetch_all(self.store.pool())
        .await?;
        Ok(decode(rows)?.pop())
    }

    async fn org_invoices(&self, org: &OrgId) -> Result<Vec<Invoice>, TableError> {
        let generation = self.live().await?;
        decode(
            sqlx::query_as(
                "SELECT document FROM invoice WHERE generation = ?1 AND org_id = ?2 \
                 ORDER BY period_start DESC",
            )
            .bind(generation)
            .bind(org.as_str())
            .fetch_all(self.store.pool())
            .await?,
        )
    }

    async fn invoices_between(
        &self,
        generation: i64,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> Result<Vec<Invoice>, TableError> {
        decode(
            sqlx::query_as(
                "SELECT document FROM invoice WHERE generation = ?1 AND position > ?2 \
                 AND position <= ?3 ORDER BY position, org_id, period_start LIMIT ?4",
            )
            .bind(generation)
            .bind(after)
            .bind(up_to)
            .bind(i64::from(limit))
            .fetch_all(self.store.pool())
            .await?,
        )
    }

    async fn ended_open_periods(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<EndedPeriod>, TableError> {
        let generation = self.live().await?;
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT org_id, period_start, period_end FROM invoice \
             WHERE generation = ?1 AND status = 'open' AND period_end <= ?2 \
             ORDER BY period_end, org_id",
        )
        .bind(generation)
        .bind(format_timestamp(cutoff))
        .fetch_all(self.store.pool())
        .await?;
        rows.into_iter()
            .map(|(org, start, end)| {
                Ok(EndedPeriod {
                    org_id: OrgId::new(org).map_err(|e| TableError::Corrupt(e.to_string()))?,
                    period_start: parse_time(&start)?,
                    period_end: parse_time(&end)?,
                })
            })
            .collect()
    }
}
