//! Test support: every test gets its own migrated database.
//!
//! PostgreSQL tests need `TEST_DATABASE_URL` (an admin URL of a server they
//! may create databases on); the project's test command (`scripts/test.sh`)
//! starts a throwaway cluster and exports it. Without it they fail loudly —
//! they never skip.
#![forbid(unsafe_code)]

pub mod seed;

use std::sync::Arc;

use ledger::db::Database;
use ledger::EventStore;
use sqlx::Connection;

/// A fresh database, migrated; removed (SQLite) or abandoned in the
/// throwaway cluster (PostgreSQL) afterwards.
pub struct TestDb {
    pub db: Database,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn store(&self) -> Arc<dyn EventStore> {
        self.db.event_store()
    }
}

/// The admin URL of the test PostgreSQL server, or a panic that says how to
/// get one.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set: this test needs PostgreSQL. Run the whole suite with \
             `scripts/test.sh`, which starts a throwaway cluster, or export \
             TEST_DATABASE_URL=postgres://user@host:port/postgres for a server where the user may \
             CREATE DATABASE."
        )
    })
}

/// A new, empty PostgreSQL database URL (not migrated).
pub async fn postgres_url() -> String {
    let admin = postgres_admin_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to TEST_DATABASE_URL {admin}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// A fresh, migrated PostgreSQL database.
pub async fn postgres() -> TestDb {
    let url = postgres_url().await;
    let db = Database::connect_and_migrate(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot migrate {url}: {e}"));
    TestDb {
        db,
        url,
        _dir: None,
    }
}

/// A new SQLite URL in a temporary directory (not migrated).
pub fn sqlite_url() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    (url, dir)
}

/// A fresh, migrated SQLite database file.
pub async fn sqlite() -> TestDb {
    let (url, dir) = sqlite_url();
    let db = Database::connect_and_migrate(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot migrate {url}: {e}"));
    TestDb {
        db,
        url,
        _dir: Some(dir),
    }
}
