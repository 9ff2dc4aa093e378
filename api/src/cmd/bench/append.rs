//! `billing bench append`: our append path against the fastest raw insert
//! of the identical rows into a scratch copy of the events table (same
//! columns, constraints and indexes). Batches alternate between the two, so
//! checkpoints and machine noise hit both alike.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ledger::db::Database;
use ledger::StreamAppend;
use serde_json::json;
use sqlx::{PgPool, QueryBuilder, Sqlite, SqlitePool};

use super::workload::{bench_start, expected_versions, usage_batches};
use super::{concurrently, progress, rate, BenchBackend, Scratch};

#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    #[arg(long, value_enum, default_value_t = BenchBackend::Sqlite)]
    pub backend: BenchBackend,
    /// Usage events to append.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Events per append (one transaction each).
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Organizations the usage is spread over (one usage stream each).
    #[arg(long, default_value_t = 1_000)]
    pub orgs: usize,
    /// Concurrent writers, each appending one batch at a time (on our side
    /// through one database handle, as an API server does; on the baseline's
    /// side each on its own connection). `--batch 1 --writers 8` measures
    /// small appends from many writers.
    #[arg(long, default_value_t = 1)]
    pub writers: usize,
    /// PostgreSQL server for `--backend postgres` (a scratch database is
    /// created there and dropped afterwards).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub postgres_url: Option<String>,
}

/// One event as the baseline inserts it: everything pre-serialised.
struct Row {
    event_id: String,
    stream_id: String,
    stream_version: i64,
    event_type: String,
    org_id: String,
    payload: String,
    metadata: String,
    occurred_at: String,
    idempotency_key: String,
}

const COLUMNS: &str = "event_id, stream_id, stream_version, event_type, schema_version, org_id, \
                       payload, metadata, occurred_at, idempotency_key";

fn rows(batch: &[StreamAppend], versions: &[i64]) -> anyhow::Result<Vec<Row>> {
    batch
        .iter()
        .flat_map(|a| a.events.iter().map(move |e| (a, e)))
        .zip(versions)
        .map(|((append, e), version)| {
            Ok(Row {
                event_id: e.event_id.to_string(),
                stream_id: append.stream_id.to_string(),
                stream_version: *version,
                event_type: e.event_type.clone(),
                org_id: e.org_id.clone().unwrap_or_default(),
                payload: e.payload.as_str().to_owned(),
                metadata: serde_json::to_string(&e.metadata)?,
                occurred_at: e.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                idempotency_key: e.idempotency_key.clone().unwrap_or_default(),
            })
        })
        .collect()
}

#[derive(Clone)]
enum Baseline {
    /// COPY … FROM STDIN (CSV), one transaction per batch.
    Postgres(PgPool),
    /// Multi-row INSERT … VALUES (prepared, cached), one transaction per batch.
    Sqlite(SqlitePool),
}

impl Baseline {
    async fn create(db: &Database) -> anyhow::Result<Self> {
        if let Some(pool) = db.postgres_pool() {
            sqlx::query("CREATE TABLE bench_event (LIKE event INCLUDING ALL)")
                .execute(pool)
                .await?;
            return Ok(Self::Postgres(pool.clone()));
        }
        {
            let pool = db
                .sqlite_pool()
                .ok_or_else(|| anyhow::anyhow!("neither PostgreSQL nor SQLite"))?;
            {
                let ddl: Vec<(String,)> = sqlx::query_as(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'event' \
                     AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC",
                )
                .fetch_all(pool)
                .await?;
                for (sql,) in ddl {
                    let sql = sql
                        .replace("CREATE TABLE event", "CREATE TABLE bench_event")
                        .replace("CREATE INDEX event_", "CREATE INDEX bench_event_")
                        .replace(" ON event ", " ON bench_event ");
                    sqlx::query(&sql).execute(pool).await?;
                }
                Ok(Self::Sqlite(pool.clone()))
            }
        }
    }

    fn name(&self, batch: usize) -> &'static str {
        match self {
            _ if batch == 1 => "raw single-row INSERT",
            Self::Postgres(_) => "raw COPY (CSV)",
            Self::Sqlite(_) => "raw multi-row INSERT",
        }
    }

    /// One row, the cheapest way there is: one prepared INSERT in
    /// autocommit (one statement, one commit).
    async fn insert_one(&self, r: &Row) -> anyhow::Result<()> {
        let recorded_at = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        match self {
            Self::Postgres(pool) => {
                sqlx::query(&format!(
                    "INSERT INTO bench_event ({COLUMNS}) VALUES \
                     ($1::uuid, $2, $3, $4, 1, $5, $6::jsonb, $7::jsonb, $8::timestamptz, $9)"
                ))
                .bind(&r.event_id)
                .bind(&r.stream_id)
                .bind(r.stream_version)
                .bind(&r.event_type)
                .bind(&r.org_id)
                .bind(&r.payload)
                .bind(&r.metadata)
                .bind(&r.occurred_at)
                .bind(&r.idempotency_key)
                .execute(pool)
                .await?;
            }
            Self::Sqlite(pool) => {
                sqlx::query(&format!(
                    "INSERT INTO bench_event ({COLUMNS}, recorded_at) VALUES \
                     ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(&r.event_id)
                .bind(&r.stream_id)
                .bind(r.stream_version)
                .bind(&r.event_type)
                .bind(&r.org_id)
                .bind(&r.payload)
                .bind(&r.metadata)
                .bind(&r.occurred_at)
                .bind(&r.idempotency_key)
                .bind(&recorded_at)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    async fn insert(&self, rows: &[Row]) -> anyhow::Result<()> {
        if let [one] = rows {
            return self.insert_one(one).await;
        }
        match self {
            Self::Postgres(pool) => {
                let mut csv = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 512));
                for r in rows {
                    let version = r.stream_version.to_string();
                    csv.write_record([
                        r.event_id.as_str(),
                        &r.stream_id,
                        &version,
                        &r.event_type,
                        "1",
                        &r.org_id,
                        &r.payload,
                        &r.metadata,
                        &r.occurred_at,
                        &r.idempotency_key,
                    ])?;
                }
                let data = csv.into_inner().context("encoding CSV")?;
                let mut tx = pool.begin().await?;
                let mut copy = tx
                    .copy_in_raw(&format!(
                        "COPY bench_event ({COLUMNS}) FROM STDIN WITH (FORMAT csv)"
                    ))
                    .await?;
                copy.send(data).await?;
                copy.finish().await?;
                tx.commit().await?;
            }
            Self::Sqlite(pool) => {
                let recorded_at = chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string();
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                for chunk in rows.chunks(500) {
                    let mut sql = QueryBuilder::<Sqlite>::new(format!(
                        "INSERT INTO bench_event ({COLUMNS}, recorded_at) "
                    ));
                    sql.push_values(chunk, |mut b, r| {
                        b.push_bind(&r.event_id)
                            .push_bind(&r.stream_id)
                            .push_bind(r.stream_version)
                            .push_bind(&r.event_type)
                            .push_bind(1_i32)
                            .push_bind(&r.org_id)
                            .push_bind(&r.payload)
                            .push_bind(&r.metadata)
                            .push_bind(&r.occurred_at)
                            .push_bind(&r.idempotency_key)
                            .push_bind(&recorded_at);
                    });
                    sql.build().persistent(true).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn count(&self) -> anyhow::Result<i64> {
        let sql = "SELECT count(*) FROM bench_event";
        Ok(match self {
            Self::Postgres(pool) => sqlx::query_as::<_, (i64,)>(sql).fetch_one(pool).await?.0,
            Self::Sqlite(pool) => sqlx::query_as::<_, (i64,)>(sql).fetch_one(pool).await?.0,
        })
    }
}

/// Rounds of a concurrent measurement (each side runs once per round).
const ROUNDS: usize = 10;

pub async fn run(args: AppendArgs) -> anyhow::Result<()> {
    if args.events == 0 || args.batch == 0 || args.batch > 10_000 || args.orgs == 0 {
        bail!("--events and --orgs must be positive and --batch between 1 and 10000");
    }
    if !(1..=64).contains(&args.writers) {
        bail!("--writers must be between 1 and 64");
    }
    let scratch = Scratch::create(args.backend, args.postgres_url.as_deref()).await?;
    let result = measure(&scratch, &args).await;
    let cleanup = scratch.remove().await;
    result?;
    cleanup
}

async fn measure(scratch: &Scratch, args: &AppendArgs) -> anyhow::Result<()> {
    let baseline = Baseline::create(&scratch.db).await?;
    eprintln!(
        "generating {} usage events over {} organizations…",
        args.events, args.orgs
    );
    let batches = usage_batches(args.events, args.batch, args.orgs, 42, bench_start())?;
    let versions = expected_versions(&batches);
    let store = scratch.db.event_store();
    let bar = progress(args.events as u64, "appending");
    let (mut ours, mut raw) = (Duration::ZERO, Duration::ZERO);
    if args.writers == 1 {
        for (batch, versions) in batches.into_iter().zip(versions) {
            let rows = rows(&batch, &versions)?;
            let started = Instant::now();
            store.append_batch(batch).await?;
            ours += started.elapsed();
            let started = Instant::now();
            baseline.insert(&rows).await?;
            raw += started.elapsed();
            bar.inc(rows.len() as u64);
        }
    } else {
        let work: Vec<(Vec<StreamAppend>, Vec<Row>)> = batches
            .into_iter()
            .zip(versions)
            .map(|(batch, versions)| {
                let rows = rows(&batch, &versions)?;
                Ok((batch, rows))
            })
            .collect::<anyhow::Result<_>>()?;
        // Rounds alternate between the two sides, so noise hits both alike.
        let per_round = work.len().div_ceil(ROUNDS).max(1);
        let mut work = work.into_iter();
        loop {
            let round: Vec<_> = work.by_ref().take(per_round).collect();
            if round.is_empty() {
                break;
            }
            let (appends, rows): (Vec<_>, Vec<_>) = round.into_iter().unzip();
            let events: usize = rows.iter().map(Vec::len).sum();
            let started = Instant::now();
            concurrently(args.writers, appends, {
                let store = store.clone();
                move |batch| {
                    let store = store.clone();
                    async move {
                        store
                            .append_batch(batch)
                            .await
                            .map(|_| ())
                            .map_err(Into::into)
                    }
                }
            })
            .await?;
            ours += started.elapsed();
            let started = Instant::now();
            concurrently(args.writers, rows, {
                let baseline = baseline.clone();
                move |rows| {
                    let baseline = baseline.clone();
                    async move { baseline.insert(&rows).await }
                }
            })
            .await?;
            raw += started.elapsed();
            bar.inc(events as u64);
        }
    }
    bar.finish_and_clear();

    let stored = store.read_all(0, 1).await?.len();
    let baseline_rows = baseline.count().await?;
    if stored == 0 || baseline_rows != args.events as i64 {
        bail!(
            "benchmark check failed: baseline holds {baseline_rows} rows, expected {}",
            args.events
        );
    }
    let events_per_s = rate(args.events, ours);
    let baseline_per_s = rate(args.events, raw);
    let ratio = events_per_s / baseline_per_s;
    println!(
        "append benchmark: {} ({}), {} events in batches of {} over {} orgs, {} writer(s)",
        args.backend.name(),
        scratch.name(),
        args.events,
        args.batch,
        args.orgs,
        args.writers
    );
    println!("{:<34} {:>12} {:>10}", "path", "events/s", "seconds");
    println!(
        "{:<34} {:>12.0} {:>10.2}",
        "EventStore::append_batch",
        events_per_s,
        ours.as_secs_f64()
    );
    println!(
        "{:<34} {:>12.0} {:>10.2}",
        format!("{} (baseline)", baseline.name(args.batch)),
        baseline_per_s,
        raw.as_secs_f64()
    );
    println!("{:<34} {:>12.2}", "ratio", ratio);
    println!(
        "{}",
        json!({
            "bench": "append",
            "backend": args.backend.name(),
            "events": args.events,
            "batch": args.batch,
            "writers": args.writers,
            "events_per_s": events_per_s.round(),
            "baseline_per_s": baseline_per_s.round(),
            "ratio": (ratio * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}
