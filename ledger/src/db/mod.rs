//! The storage layer every crate shares: one [`Database`] handle over
//! PostgreSQL or SQLite, and one way to write SQL for both.
//!
//! # Layout
//! - [`Database`]: connecting (from `DATABASE_URL`), migrating, checking
//!   the schema version, read-only mode; statements on the pool
//!   ([`Database::query`], [`Database::query_as`]) and write transactions
//!   ([`Database::begin_write`]).
//! - `exec`: [`Query`]/[`QueryAs`] — one SQL text with `$N` placeholders,
//!   bound and run on either backend.
//! - [`columns`]: [`DbTime`], [`DbUuid`], [`DbDecimal`], [`DbList`] and
//!   [`Json`] — column types that decode the same on both backends.
//! - `tx`: [`WriteTx`] — a PostgreSQL transaction, or SQLite's `BEGIN
//!   IMMEDIATE` behind an in-process writer lock.
//! - `dialect`: [`Dialect`] — the real differences only (list membership,
//!   JSON field access, row-lock clauses). Bulk inserts, the one other
//!   difference, stay with the code that needs them (the event store).
//!
//! # Guarantees
//! - **Reads never write**: statements on the pool are reads; every write
//!   goes through a [`WriteTx`], and a database opened with
//!   [`Database::connect_read_only`] refuses to begin one. On PostgreSQL a
//!   read-only handle also sets `default_transaction_read_only`, so the
//!   server itself refuses anything that slips past.
//! - **One schema version**: [`Database::check_schema`] names both versions
//!   when the database and this build disagree.

pub mod columns;
mod dialect;
mod exec;
mod tx;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::Mutex;

pub use columns::{
    format_timestamp, parse_timestamp, DbDecimal, DbList, DbTime, DbUuid, Json, JsonText,
};
pub use dialect::Dialect;
pub use exec::{Param, Query, QueryAs, Row};
pub use tx::{Conn, WriteTx};

use crate::store::{EventStore, GroupCommit, SqlStore, StoreError};

/// The SQLite file used when `DATABASE_URL` is unset, in the working directory.
pub const DEFAULT_SQLITE_FILE: &str = "billing.db";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

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

#[derive(Debug, Clone)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A connected database: the production backend or the embedded default.
/// Cheap to clone; clones share the pool (and SQLite's writer lock).
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    writer: Arc<Mutex<()>>,
    read_only: bool,
    /// Concurrent appends of every clone commit together (see the store's
    /// group commit).
    appends: Arc<GroupCommit>,
}

impl Database {
    /// Connect to `url` (a `postgres://` or `sqlite://` URL). SQLite files are
    /// created if missing and opened in WAL mode with `synchronous=FULL`, so
    /// a committed append survives a power cut.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, false).await
    }

    /// Connect for reads only (an API replica): [`Database::begin_write`]
    /// refuses, PostgreSQL sessions run with `default_transaction_read_only
    /// = on`, and a SQLite file is opened read-only (it must exist).
    pub async fn connect_read_only(url: &str) -> Result<Self, StoreError> {
        Self::open(url, true).await
    }

    async fn open(url: &str, read_only: bool) -> Result<Self, StoreError> {
        let appends = Arc::<GroupCommit>::default();
        // Every new connection may be to a database restored or failed
        // over since the last: appends forget the versions they saw.
        macro_rules! connected {
            () => {{
                let appends = appends.clone();
                move |_: &mut _, _| {
                    appends.connected();
                    Box::pin(async { Ok(()) })
                }
            }};
        }
        let pool = match Backend::of_url(url)? {
            Backend::Postgres => {
                let mut options = PgConnectOptions::from_str(url)?;
                if read_only {
                    options = options.options([("default_transaction_read_only", "on")]);
                }
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(connected!())
                    .connect_with(options)
                    .await?;
                Pool::Postgres(pool)
            }
            Backend::Sqlite => {
                let mut options = SqliteConnectOptions::from_str(url)?
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                // The journal mode is a property of the file, set by the
                // writer; a read-only handle only reads it.
                options = if read_only {
                    options.read_only(true)
                } else {
                    options
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                };
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(connected!())
                    .connect_with(options)
                    .await?;
                Pool::Sqlite(pool)
            }
        };
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(())),
            read_only,
            appends,
        })
    }

    /// Connect and apply every pending migration.
    pub async fn connect_and_migrate(url: &str) -> Result<Self, StoreError> {
        let db = Self::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
        }
    }

    /// Apply the embedded migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        match &self.pool {
            Pool::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
            Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// The schema version this build expects (its newest migration).
    pub fn expected_schema_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The newest migration applied to the database (`None`: never migrated).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let row: Result<Option<(i64,)>, sqlx::Error> = self
            .query_as(
                "SELECT version FROM _sqlx_migrations WHERE success \
                 ORDER BY version DESC LIMIT 1",
            )
            .fetch_optional()
            .await;
        match row {
            Ok(row) => Ok(row.map(|(v,)| v)),
            // No migrations table at all: a database nobody migrated.
            Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Refuse a database whose schema is not the one this build expects
    /// (for read-only replicas, which must not migrate).
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        let expected = self.expected_schema_version();
        match self.schema_version().await? {
            Some(found) if found == expected => Ok(()),
            found => Err(StoreError::SchemaMismatch { found, expected }),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The SQL fragments that differ on this backend.
    pub fn dialect(&self) -> Dialect {
        Dialect(self.backend())
    }

    /// Whether this handle refuses writes (see [`Database::connect_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn on(&self) -> exec::On<'_> {
        match &self.pool {
            Pool::Postgres(p) => exec::On::PgPool(p),
            Pool::Sqlite(p) => exec::On::SqlitePool(p),
        }
    }

    /// A read on the pool.
    pub fn query<'q>(&self, sql: &'q str) -> Query<'_, 'q> {
        Query::new(self.on(), sql)
    }

    /// A read on the pool whose rows decode as `O`.
    pub fn query_as<'q, O: Row>(&self, sql: &'q str) -> QueryAs<'_, 'q, O> {
        QueryAs::new(self.on(), sql)
    }

    /// Begin a write transaction (on SQLite: behind the writer lock, with
    /// `BEGIN IMMEDIATE`). Refused on a read-only handle.
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        Ok(match &self.pool {
            Pool::Postgres(p) => WriteTx::postgres(p).await?,
            Pool::Sqlite(p) => WriteTx::sqlite(p, &self.writer).await?,
        })
    }

    /// Begin a write transaction whose PostgreSQL `BEGIN` is
    /// `postgres_begin` (a `BEGIN` plus statements to run in the same round
    /// trip, such as taking a lock); on SQLite exactly [`Self::begin_write`].
    pub(crate) async fn begin_write_with(
        &self,
        postgres_begin: &'static str,
    ) -> Result<WriteTx, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        Ok(match &self.pool {
            Pool::Postgres(p) => WriteTx::postgres_with(p, postgres_begin).await?,
            Pool::Sqlite(p) => WriteTx::sqlite(p, &self.writer).await?,
        })
    }

    /// The queue through which this database's appends commit together.
    pub(crate) fn group_commit(&self) -> &GroupCommit {
        &self.appends
    }

    /// The event store over this database.
    pub fn event_store(&self) -> Arc<dyn EventStore> {
        Arc::new(SqlStore::new(self.clone()))
    }

    /// The PostgreSQL pool: for what only PostgreSQL offers (a replay's binary
    /// `COPY`, benchmarks' raw inserts).
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// The SQLite pool, for benchmarks that measure raw inserts.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            Pool::Postgres(_) => None,
        }
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p) => p.close().await,
            Pool::Sqlite(p) => p.close().await,
        }
    }
}
