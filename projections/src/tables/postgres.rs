//! Projection tables on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger::store::postgres::PostgresStore;
use ledger::OrgId;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

use super::{label, Checkpoint, Commit, EndedPeriod, ProjectionTables, TableError};
use crate::fold::Invoice;

#[derive(Debug, Clone)]
pub struct PostgresTables {
    pool: PgPool,
}

impl PostgresTables {
    pub fn new(store: &PostgresStore) -> Self {
        Self {
            pool: store.pool().clone(),
        }
    }

    async fn live(&self) -> Result<i64, TableError> {
        self.active_generation(super::INVOICES).await
    }
}

fn decode(documents: Vec<(serde_json::Value,)>) -> Result<Vec<Invoice>, TableError> {
    documents
        .into_iter()
        .map(|(doc,)| serde_json::from_value(doc).map_err(TableError::from))
        .collect()
}

async fn write_invoice(
    conn: &mut PgConnection,
    generation: i64,
    invoice: &Invoice,
) -> Result<(), TableError> {
    let document = serde_json::to_value(invoice)?;
    sqlx::query(
        "INSERT INTO invoice (generation, org_id, period_start, period_end, currency, status, \
         version, position, total, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (generation, org_id, period_start) DO UPDATE SET period_end = EXCLUDED.period_end, \
         currency = EXCLUDED.currency, status = EXCLUDED.status, version = EXCLUDED.version, \
         position = EXCLUDED.position, total = EXCLUDED.total, document = EXCLUDED.document",
    )
    .bind(generation)
    .bind(invoice.org_id.as_str())
    .bind(invoice.period_start)
    .bind(invoice.period_end)
    .bind(invoice.currency.code())
    .bind(label(&invoice.status)?)
    .bind(invoice.version)
    .bind(invoice.position)
    .bind(invoice.total)
    .bind(document)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM invoice_line WHERE generation = $1 AND org_id = $2 AND period_start = $3",
    )
    .bind(generation)
    .bind(invoice.org_id.as_str())
    .bind(invoice.period_start)
    .execute(&mut *conn)
    .await?;
    if invoice.lines.is_empty() {
        return Ok(());
    }
    let n = invoice.lines.len();
    let (mut ids, mut ordinals, mut kinds, mut descriptions) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut meters, mut prices, mut quantities, mut unit_prices, mut amounts, mut sources) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::<Decimal>::with_capacity(n),
        Vec::<Option<Decimal>>::with_capacity(n),
        Vec::<Decimal>::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (ordinal, line) in invoice.lines.iter().enumerate() {
        ids.push(line.line_id.as_str());
        ordinals.push(ordinal as i32);
        kinds.push(label(&line.kind)?);
        descriptions.push(line.description.as_str());
        meters.push(line.meter.as_deref());
        prices.push(line.price_id.as_deref());
        quantities.push(line.quantity);
        unit_prices.push(line.unit_price);
        amounts.push(line.amount);
        sources.push(serde_json::to_value(&line.source)?);
    }
    sqlx::query(
        "INSERT INTO invoice_line (generation, org_id, period_start, line_id, ordinal, kind, \
         description, meter, price_id, quantity, unit_price, amount, source) \
         SELECT $1, $2, $3, * FROM unnest($4::text[], $5::int4[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::numeric[], $11::numeric[], $12::numeric[], $13::jsonb[])",
    )
    .bind(generation)
    .bind(invoice.org_id.as_str())
    .bind(invoice.period_start)
    .bind(&ids)
    .bind(&ordinals)
    .bind(&kinds)
    .bind(&descriptions)
    .bind(&meters)
    .bind(&prices)
    .bind(&quantities)
    .bind(&unit_prices)
    .bind(&amounts)
    .bind(&sources)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl ProjectionTables for PostgresTables {
    async fn active_generation(&self, projection: &str) -> Result<i64, TableError> {
        let row: (i64,) = sqlx::query_as(
            "INSERT INTO projection (projection_name, active_generation) VALUES ($1, 1) \
             ON CONFLICT (projection_name) DO UPDATE SET projection_name = EXCLUDED.projection_name \
             RETURNING active_generation",
        )
        .bind(projection)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.0)
    }

    async fn checkpoint(
        &self,
        projection: &str,
        generation: i64,
    ) -> Result<Checkpoint, TableError> {
        let row: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT position, updated_at FROM projection_checkpoint \
             WHERE projection_name = $1 AND generation = $2",
        )
        .bind(projection)
        .bind(generation)
        .fetch_optional(&self.pool)
        .await?;
        let (position, updated_at) = row.unwrap_or((0, DateTime::<Utc>::UNIX_EPOCH));
        Ok(Checkpoint {
            generation,
            position,
            updated_at,
        })
    }

    async fn load_states(
        &self,
        generation: i64,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, TableError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT state_key, state::text FROM projection_state \
             WHERE generation = $1 AND state_key = ANY($2)",
        )
        .bind(generation)
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn org_states(
        &self,
        generation: i64,
        after_key: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, TableError> {
        Ok(sqlx::query_as(
            "SELECT state_key, state::text FROM projection_state WHERE generation = $1 \
             AND state_key > $2 AND state_key LIKE 'org:%' ORDER BY state_key LIMIT $3",
        )
        .bind(generation)
        .bind(after_key)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn all_states(&self, generation: i64) -> Result<Vec<(String, String)>, TableError> {
        Ok(sqlx::query_as(
            "SELECT state_key, state::text FROM projection_state WHERE generation = $1 ORDER BY state_key",
        )
        .bind(generation)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn commit(&self, projection: &str, commit: &Commit) -> Result<bool, TableError> {
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(
            "INSERT INTO projection_checkpoint (projection_name, generation, position) \
             VALUES ($1, $2, $4) ON CONFLICT (projection_name, generation) DO UPDATE \
             SET position = EXCLUDED.position, updated_at = now() \
             WHERE projection_checkpoint.position = $3",
        )
        .bind(projection)
        .bind(commit.generation)
        .bind(commit.from_position)
        .bind(commit.to_position)
        .execute(&mut *tx)
        .await?;
        // No row yet: the insert claims it (a racing first commit waits on
        // the key, then finds the position moved). A row at another
        // position: someone else folded these events; write nothing.
        if moved.rows_affected() == 0 {
            return Ok(false);
        }
        if !commit.states.is_empty() {
            let (keys, states): (Vec<&str>, Vec<&str>) = commit
                .states
                .iter()
                .map(|(k, s)| (k.as_str(), s.as_str()))
                .unzip();
            sqlx::query(
                "INSERT INTO projection_state (generation, state_key, state) \
                 SELECT $1, k, s::jsonb FROM unnest($2::text[], $3::text[]) AS t(k, s) \
                 ON CONFLICT (generation, state_key) DO UPDATE SET state = EXCLUDED.state",
            )
            .bind(commit.generation)
            .bind(&keys)
            .bind(&states)
            .execute(&mut *tx)
            .await?;
        }
        for invoice in &commit.invoices {
            write_invoice(&mut tx, commit.generation, invoice).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn new_generation(&self, projection: &str) -> Result<i64, TableError> {
        let live = self.active_generation(projection).await?;
        let row: (Option<i64>,) = sqlx::query_as(
            "SELECT max(generation) FROM projection_checkpoint WHERE projection_name = $1",
        )
        .bind(projection)
        .fetch_one(&self.pool)
        .await?;
        let generation = row.0.unwrap_or(0).max(live) + 1;
        self.drop_generation(projection, generation).await?;
        Ok(generation)
    }

    async fn activate(&self, projection: &str, generation: i64) -> Result<i64, TableError> {
        let mut tx = self.pool.begin().await?;
        let (previous,): (i64,) = sqlx::query_as(
            "SELECT active_generation FROM projection WHERE projection_name = $1 FOR UPDATE",
        )
        .bind(projection)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE projection SET active_generation = $2, updated_at = now() WHERE projection_name = $1",
        )
        .bind(projection)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(previous)
    }

    async fn drop_generation(&self, projection: &str, generation: i64) -> Result<(), TableError> {
        let mut tx = self.pool.begin().await?;
        for table in ["invoice_line", "invoice", "projection_state"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE generation = $1"))
                .bind(generation)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "DELETE FROM projection_checkpoint WHERE projection_name = $1 AND generation = $2",
        )
        .bind(projection)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn invoices(&self, generation: i64) -> Result<Vec<Invoice>, TableError> {
        decode(
            sqlx::query_as(
                "SELECT document FROM invoice WHERE generation = $1 ORDER BY org_id, period_start",
            )
            .bind(generation)
            .fetch_all(&self.pool)
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
            "SELECT document FROM invoice WHERE generation = $1 AND org_id = $2 AND period_start = $3",
        )
        .bind(generation)
        .bind(org.as_str())
        .bind(period_start)
        .fetch_all(&self.pool)
        .await?;
        Ok(decode(rows)?.pop())
    }

    async fn org_invoices(&self, org: &OrgId) -> Result<Vec<Invoice>, TableError> {
        let generation = self.live().await?;
        decode(
            sqlx::query_as(
                "SELECT document FROM invoice WHERE generation = $1 AND org_id = $2 \
                 ORDER BY period_start DESC",
            )
            .bind(generation)
            .bind(org.as_str())
            .fetch_all(&self.pool)
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
                "SELECT document FROM invoice WHERE generation = $1 AND position > $2 \
                 AND position <= $3 ORDER BY position, org_id, period_start LIMIT $4",
            )
            .bind(generation)
            .bind(after)
            .bind(up_to)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn ended_open_periods(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<EndedPeriod>, TableError> {
        let generation = self.live().await?;
        let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT org_id, period_start, period_end FROM invoice \
             WHERE generation = $1 AND status = 'open' AND period_end <= $2 \
             ORDER BY period_end, org_id",
        )
        .bind(generation)
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(org, period_start, period_end)| {
                Ok(EndedPeriod {
                    org_id: OrgId::new(org).map_err(|e| TableError::Corrupt(e.to_string()))?,
                    period_start,
                    period_end,
                })
            })
            .collect()
    }
}
