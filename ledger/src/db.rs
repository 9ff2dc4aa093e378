//! Choosing a backend from `DATABASE_URL`, connecting and migrating.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{EventStore, StoreError};

/// The SQLite file used when `DATABASE_URL` is unset, in the working directory.
pub const DEFAULT_SQLITE_FILE: &str = "billing.db";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// A connected database: the production backend or the embedded default.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PostgresStore),
    Sqlite(SqliteStore),
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// The URL used when `DATABASE_URL` is unset.
pub fn default_url() -> String {
    format!("sqlite://{DEFAULT_SQLITE_FILE}")
}

impl Database {
    /// Connect to `url` (a `postgres://` or `sqlite://` URL). SQLite files are
    /// created if missing and opened in WAL mode with `synchronous=FULL`, so
    /// a committed append survives a power cut.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        match Backend::of_url(url)? {
            Backend::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                Ok(Self::Postgres(PostgresStore::new(pool)))
            }
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Ok(Self::Sqlite(SqliteStore::new(pool)))
            }
        }
    }

    /// Connect and apply every pending migration.
    pub async fn connect_and_migrate(url: &str) -> Result<Self, StoreError> {
        let db = Self::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Apply the embedded migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Postgres(s) => POSTGRES_MIGRATIONS.run(s.pool()).await?,
            Self::Sqlite(s) => SQLITE_MIGRATIONS.run(s.pool()).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The event store over this database.
    pub fn event_store(&self) -> Arc<dyn EventStore> {
        match self {
            Self::Postgres(s) => Arc::new(s.clone()),
            Self::Sqlite(s) => Arc::new(s.clone()),
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(s) => s.pool().close().await,
            Self::Sqlite(s) => s.pool().close().await,
        }
    }
}
