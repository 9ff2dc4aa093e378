//! The projection tables on either backend: one SQL text per statement
//! (see [`ledger::db`]). Reads run on the pool and never write; every write
//! is one [`ledger::db::WriteTx`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger::db::{parse_timestamp, Database, DbDecimal, DbList, DbTime, Dialect, Json, WriteTx};
use ledger::OrgId;
use serde_json::value::RawValue;

use super::{
    label, Checkpoint, CloseFailure, Commit, EndedPeriod, EndedPeriods, InvoiceRow, ParkedOrg,
    ProjectionTables, State, TableError, UnreadablePeriod,
};
use crate::fold::Invoice;

/// Rows per multi-row `INSERT … VALUES`: far below both backends' limits
/// on bound parameters (SQLite 32,766; PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 500;

/// The projection tables of one database.
#[derive(Debug, Clone)]
pub struct SqlTables {
    db: Database,
}

impl SqlTables {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    async fn live(&self) -> Result<i64, TableError> {
        self.active_generation(super::INVOICES).await
    }
}

fn now() -> DbTime {
    DbTime(Utc::now())
}

fn decode(documents: Vec<(Json<Invoice>,)>) -> Vec<Invoice> {
    documents.into_iter().map(|(doc,)| doc.0).collect()
}

async fn write_states(
    tx: &mut WriteTx,
    dialect: Dialect,
    generation: i64,
    states: &[(String, State)],
) -> Result<(), TableError> {
    for chunk in states.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO projection_state (generation, state_key, state) VALUES {} \
             ON CONFLICT (generation, state_key) DO UPDATE SET state = excluded.state",
            dialect.values(chunk.len(), 3)
        );
        let mut insert = tx.query(&sql);
        for (key, state) in chunk {
            insert = insert
                .bind(generation)
                .bind(key.as_str())
                .bind(Json(state.as_ref()));
        }
        insert.execute().await?;
    }
    Ok(())
}

async fn write_parked(
    tx: &mut WriteTx,
    projection: &str,
    generation: i64,
    parked: &[ParkedOrg],
) -> Result<(), TableError> {
    for org in parked {
        tx.query(
            "INSERT INTO projection_parked_org \
               (projection_name, generation, org_id, position, error, parked_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (projection_name, generation, org_id) DO NOTHING",
        )
        .bind(projection)
        .bind(generation)
        .bind(org.org_id.as_str())
        .bind(org.position)
        .bind(org.error.as_str())
        .bind(DbTime(org.parked_at))
        .execute()
        .await?;
    }
    Ok(())
}

async fn write_invoices(
    tx: &mut WriteTx,
    dialect: Dialect,
    generation: i64,
    invoices: &[InvoiceRow],
) -> Result<(), TableError> {
    for chunk in invoices.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO invoice (generation, org_id, period_start, period_end, currency, \
             status, version, position, total, document) VALUES {} \
             ON CONFLICT (generation, org_id, period_start) DO UPDATE SET \
             period_end = excluded.period_end, currency = excluded.currency, \
             status = excluded.status, version = excluded.version, \
             position = excluded.position, total = excluded.total, document = excluded.document",
            dialect.values(chunk.len(), 10)
        );
        let mut insert = tx.query(&sql);
        for InvoiceRow { invoice, document } in chunk {
            insert = insert
                .bind(generation)
                .bind(invoice.org_id.as_str())
                .bind(DbTime(invoice.period_start))
                .bind(DbTime(invoice.period_end))
                .bind(invoice.currency.code())
                .bind(label(&invoice.status)?)
                .bind(invoice.version)
                .bind(invoice.position)
                .bind(DbDecimal(invoice.total))
                .bind(Json(document.as_ref()));
        }
        insert.execute().await?;
    }
    Ok(())
}

#[async_trait]
impl ProjectionTables for SqlTables {
    async fn active_generation(&self, projection: &str) -> Result<i64, TableError> {
        let row: Option<(i64,)> = self
            .db
            .query_as("SELECT active_generation FROM projection WHERE projection_name = $1")
            .bind(projection)
            .fetch_optional()
            .await?;
        Ok(row.map_or(1, |(generation,)| generation))
    }

    async fn checkpoint(
        &self,
        projection: &str,
        generation: i64,
    ) -> Result<Checkpoint, TableError> {
        let row: Option<(i64, DbTime)> = self
            .db
            .query_as(
                "SELECT position, updated_at FROM projection_checkpoint \
                 WHERE projection_name = $1 AND generation = $2",
            )
            .bind(projection)
            .bind(generation)
            .fetch_optional()
            .await?;
        let (position, updated_at) =
            row.map_or((0, DateTime::<Utc>::UNIX_EPOCH), |(p, t)| (p, t.0));
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
    ) -> Result<Vec<(String, State)>, TableError> {
        let sql = format!(
            "SELECT state_key, state FROM projection_state WHERE generation = $1 AND {}",
            self.db.dialect().in_list("state_key", "$2")
        );
        let rows: Vec<(String, Json<Box<RawValue>>)> = self
            .db
            .query_as(&sql)
            .bind(generation)
            .bind(DbList(keys.to_vec()))
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|(k, s)| (k, s.0)).collect())
    }

    async fn org_states(
        &self,
        generation: i64,
        after_key: &str,
        limit: u32,
    ) -> Result<Vec<(String, State)>, TableError> {
        let rows: Vec<(String, Json<Box<RawValue>>)> = self
            .db
            .query_as(
                "SELECT state_key, state FROM projection_state WHERE generation = $1 \
                 AND state_key > $2 AND state_key LIKE 'org:%' ORDER BY state_key LIMIT $3",
            )
            .bind(generation)
            .bind(after_key)
            .bind(i64::from(limit))
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|(k, s)| (k, s.0)).collect())
    }

    async fn commit(&self, projection: &str, commit: &Commit) -> Result<bool, TableError> {
        let mut tx = self.db.begin_write().await?;
        // No row yet: the insert claims it (a racing first commit waits on
        // the key, then finds the position moved). A row at another
        // position: someone else folded these events; write nothing.
        let moved = tx
            .query(
                "INSERT INTO projection_checkpoint (projection_name, generation, position, updated_at) \
                 VALUES ($1, $2, $4, $5) ON CONFLICT (projection_name, generation) DO UPDATE \
                 SET position = excluded.position, updated_at = excluded.updated_at \
                 WHERE projection_checkpoint.position = $3",
            )
            .bind(projection)
            .bind(commit.generation)
            .bind(commit.from_position)
            .bind(commit.to_position)
            .bind(now())
            .execute()
            .await?;
        if moved == 0 {
            return Ok(false);
        }
        let dialect = self.db.dialect();
        write_states(&mut tx, dialect, commit.generation, &commit.states).await?;
        write_invoices(&mut tx, dialect, commit.generation, &commit.invoices).await?;
        write_parked(&mut tx, projection, commit.generation, &commit.parked).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn fill(
        &self,
        projection: &str,
        generation: i64,
        states: &[(String, State)],
        invoices: &[InvoiceRow],
    ) -> Result<(), TableError> {
        if states.is_empty() && invoices.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        let live: Option<(i64,)> = tx
            .query_as("SELECT active_generation FROM projection WHERE projection_name = $1")
            .bind(projection)
            .fetch_optional()
            .await?;
        if live.map_or(1, |(g,)| g) == generation {
            return Err(TableError::Corrupt(format!(
                "generation {generation} of `{projection}` is live: only a generation being built is filled"
            )));
        }
        let dialect = self.db.dialect();
        write_states(&mut tx, dialect, generation, states).await?;
        write_invoices(&mut tx, dialect, generation, invoices).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn new_generation(&self, projection: &str) -> Result<i64, TableError> {
        let live = self.active_generation(projection).await?;
        let (max,): (Option<i64>,) = self
            .db
            .query_as(
                "SELECT max(generation) FROM projection_checkpoint WHERE projection_name = $1",
            )
            .bind(projection)
            .fetch_one()
            .await?;
        let generation = max.unwrap_or(0).max(live) + 1;
        self.drop_generation(projection, generation).await?;
        Ok(generation)
    }

    async fn activate(&self, projection: &str, generation: i64) -> Result<i64, TableError> {
        let mut tx = self.db.begin_write().await?;
        let sql = format!(
            "SELECT active_generation FROM projection WHERE projection_name = $1 {}",
            self.db.dialect().for_update()
        );
        let previous: Option<(i64,)> = tx.query_as(&sql).bind(projection).fetch_optional().await?;
        tx.query(
            "INSERT INTO projection (projection_name, active_generation, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (projection_name) DO UPDATE \
             SET active_generation = excluded.active_generation, updated_at = excluded.updated_at",
        )
        .bind(projection)
        .bind(generation)
        .bind(now())
        .execute()
        .await?;
        tx.commit().await?;
        Ok(previous.map_or(1, |(g,)| g))
    }

    async fn drop_generation(&self, projection: &str, generation: i64) -> Result<(), TableError> {
        let mut tx = self.db.begin_write().await?;
        for sql in [
            "DELETE FROM invoice WHERE generation = $1",
            "DELETE FROM projection_state WHERE generation = $1",
        ] {
            tx.query(sql).bind(generation).execute().await?;
        }
        for sql in [
            "DELETE FROM projection_checkpoint WHERE projection_name = $1 AND generation = $2",
            "DELETE FROM projection_parked_org WHERE projection_name = $1 AND generation = $2",
        ] {
            tx.query(sql)
                .bind(projection)
                .bind(generation)
                .execute()
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn invoices(&self, generation: i64) -> Result<Vec<Invoice>, TableError> {
        let rows = self
            .db
            .query_as(
                "SELECT document FROM invoice WHERE generation = $1 ORDER BY org_id, period_start",
            )
            .bind(generation)
            .fetch_all()
            .await?;
        Ok(decode(rows))
    }

    async fn invoice(
        &self,
        org: &OrgId,
        period_start: DateTime<Utc>,
    ) -> Result<Option<Invoice>, TableError> {
        let generation = self.live().await?;
        let row: Option<(Json<Invoice>,)> = self
            .db
            .query_as(
                "SELECT document FROM invoice \
                 WHERE generation = $1 AND org_id = $2 AND period_start = $3",
            )
            .bind(generation)
            .bind(org.as_str())
            .bind(DbTime(period_start))
            .fetch_optional()
            .await?;
        Ok(row.map(|(doc,)| doc.0))
    }

    async fn org_invoices(&self, org: &OrgId) -> Result<Vec<Invoice>, TableError> {
        let generation = self.live().await?;
        let rows = self
            .db
            .query_as(
                "SELECT document FROM invoice WHERE generation = $1 AND org_id = $2 \
                 ORDER BY period_start DESC",
            )
            .bind(generation)
            .bind(org.as_str())
            .fetch_all()
            .await?;
        Ok(decode(rows))
    }

    async fn invoices_between(
        &self,
        generation: i64,
        after: i64,
        up_to: i64,
        limit: u32,
    ) -> Result<Vec<Invoice>, TableError> {
        let rows = self
            .db
            .query_as(
                "SELECT document FROM invoice WHERE generation = $1 AND position > $2 \
                 AND position <= $3 ORDER BY position, org_id, period_start LIMIT $4",
            )
            .bind(generation)
            .bind(after)
            .bind(up_to)
            .bind(i64::from(limit))
            .fetch_all()
            .await?;
        Ok(decode(rows))
    }

    async fn ended_open_periods(&self, cutoff: DateTime<Utc>) -> Result<EndedPeriods, TableError> {
        let generation = self.live().await?;
        // Times as text, parsed here, so one row holding a value the time
        // type cannot decode is reported rather than failing the pass.
        let dialect = self.db.dialect();
        let sql = format!(
            "SELECT org_id, {start}, {end} FROM invoice \
             WHERE generation = $1 AND status = 'open' AND period_end <= $2 \
               AND org_id NOT IN (SELECT org_id FROM projection_parked_org \
                 WHERE projection_name = $3 AND generation = $1) \
             ORDER BY period_end, org_id",
            start = dialect.time_text("period_start"),
            end = dialect.time_text("period_end"),
        );
        let rows: Vec<(String, String, String)> = self
            .db
            .query_as(&sql)
            .bind(generation)
            .bind(DbTime(cutoff))
            .bind(super::INVOICES)
            .fetch_all()
            .await?;
        let mut periods = EndedPeriods::default();
        for (org, start, end) in rows {
            let read = OrgId::new(org.as_str())
                .map_err(|e| e.to_string())
                .and_then(|org_id| {
                    let start_at = parse_timestamp(&start)
                        .map_err(|e| format!("period start `{start}` cannot be read: {e}"))?;
                    let end_at = parse_timestamp(&end)
                        .map_err(|e| format!("period end `{end}` cannot be read: {e}"))?;
                    Ok(EndedPeriod {
                        org_id,
                        period_start: start_at,
                        period_end: end_at,
                    })
                });
            match read {
                Ok(ended) => periods.ended.push(ended),
                Err(error) => periods.unreadable.push(UnreadablePeriod {
                    org_id: org,
                    period_start: start,
                    error,
                }),
            }
        }
        Ok(periods)
    }

    async fn parked_orgs(
        &self,
        projection: &str,
        generation: i64,
    ) -> Result<Vec<String>, TableError> {
        let rows: Vec<(String,)> = self
            .db
            .query_as(
                "SELECT org_id FROM projection_parked_org \
                 WHERE projection_name = $1 AND generation = $2",
            )
            .bind(projection)
            .bind(generation)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|(org,)| org).collect())
    }

    async fn parked(&self, projection: &str) -> Result<Vec<ParkedOrg>, TableError> {
        let generation = self.active_generation(projection).await?;
        let rows: Vec<(String, i64, String, DbTime)> = self
            .db
            .query_as(
                "SELECT org_id, position, error, parked_at FROM projection_parked_org \
                 WHERE projection_name = $1 AND generation = $2 ORDER BY parked_at, org_id",
            )
            .bind(projection)
            .bind(generation)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(org_id, position, error, at)| ParkedOrg {
                org_id,
                position,
                error,
                parked_at: at.0,
            })
            .collect())
    }

    async fn record_close_failure(
        &self,
        org_id: &str,
        period_start: &str,
        error: &str,
    ) -> Result<(), TableError> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "INSERT INTO invoice_close_failure \
               (org_id, period_start, error, attempts, first_failed_at, last_failed_at) \
             VALUES ($1, $2, $3, 1, $4, $4) \
             ON CONFLICT (org_id, period_start) DO UPDATE SET error = excluded.error, \
               attempts = invoice_close_failure.attempts + 1, \
               last_failed_at = excluded.last_failed_at",
        )
        .bind(org_id)
        .bind(period_start)
        .bind(error)
        .bind(now())
        .execute()
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_close_failure(
        &self,
        org_id: &str,
        period_start: &str,
    ) -> Result<(), TableError> {
        // A read first: the common case (nothing failed) writes nothing.
        let failed: Option<(i64,)> = self
            .db
            .query_as(
                "SELECT attempts FROM invoice_close_failure \
                 WHERE org_id = $1 AND period_start = $2",
            )
            .bind(org_id)
            .bind(period_start)
            .fetch_optional()
            .await?;
        if failed.is_none() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        tx.query("DELETE FROM invoice_close_failure WHERE org_id = $1 AND period_start = $2")
            .bind(org_id)
            .bind(period_start)
            .execute()
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn close_failures(&self) -> Result<Vec<CloseFailure>, TableError> {
        let rows: Vec<(String, String, String, i64, DbTime, DbTime)> = self
            .db
            .query_as(
                "SELECT org_id, period_start, error, attempts, first_failed_at, last_failed_at \
                 FROM invoice_close_failure ORDER BY first_failed_at, org_id, period_start",
            )
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(org_id, period_start, error, attempts, first, last)| CloseFailure {
                    org_id,
                    period_start,
                    error,
                    attempts,
                    first_failed_at: first.0,
                    last_failed_at: last.0,
                },
            )
            .collect())
    }
}
