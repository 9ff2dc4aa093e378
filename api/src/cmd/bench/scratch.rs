//! A throwaway database for a benchmark: a new database on the given
//! PostgreSQL server (dropped afterwards) or a temporary SQLite file.

use anyhow::{anyhow, Context};
use ledger::db::Database;
use sqlx::Connection;

use super::BenchBackend;

pub struct Scratch {
    pub db: Database,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    /// Create and migrate a scratch database. PostgreSQL needs the URL of a
    /// server where the user may CREATE DATABASE (`--postgres-url` or
    /// `BENCH_DATABASE_URL`); nothing is written to that URL's own database.
    pub async fn create(backend: BenchBackend, postgres_url: Option<&str>) -> anyhow::Result<Self> {
        match backend {
            BenchBackend::Sqlite => {
                let dir = tempfile::tempdir().context("creating a temporary directory")?;
                let path = dir.path().join("bench.db");
                let url = format!("sqlite://{}", path.display());
                let db = Database::connect_and_migrate(&url).await?;
                Ok(Self {
                    db,
                    admin_url: None,
                    name: path.display().to_string(),
                    _dir: Some(dir),
                })
            }
            BenchBackend::Postgres => {
                let admin = postgres_url.ok_or_else(|| {
                    anyhow!(
                        "--backend postgres needs a server: pass --postgres-url postgres://… or set \
                         BENCH_DATABASE_URL (a scratch database is created there and dropped afterwards)"
                    )
                })?;
                let name = format!("ledger_bench_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(admin)
                    .await
                    .with_context(|| format!("connecting to {}", super::super::redact(admin)))?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .context("creating the scratch database (the user needs CREATEDB)")?;
                let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
                let url = format!("{base}/{name}");
                let db = Database::connect_and_migrate(&url).await?;
                Ok(Self {
                    db,
                    admin_url: Some(admin.to_owned()),
                    name,
                    _dir: None,
                })
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Close the pools and drop the scratch database.
    pub async fn remove(self) -> anyhow::Result<()> {
        self.db.close().await;
        if let Some(admin) = &self.admin_url {
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await?;
        }
        Ok(())
    }
}
