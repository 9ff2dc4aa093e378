//! Write transactions on either backend.
//!
//! PostgreSQL runs writers concurrently; SQLite allows one writer at a
//! time, so a SQLite write transaction first takes an in-process lock
//! (queuing here beats spinning on `SQLITE_BUSY`) and then `BEGIN
//! IMMEDIATE` (which serialises writers across processes, with the busy
//! timeout). Every write in the workspace goes through [`WriteTx`], so a
//! database opened read-only refuses writes in one place.

use std::sync::Arc;

use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::exec::{On, Query, QueryAs, Row};

/// An open write transaction; dropped without [`WriteTx::commit`], it rolls back.
pub struct WriteTx {
    tx: Inner,
}

enum Inner {
    Postgres(Transaction<'static, Postgres>),
    Sqlite {
        tx: Transaction<'static, Sqlite>,
        _writer: OwnedMutexGuard<()>,
    },
}

/// The connection of a [`WriteTx`], for the few statements written per
/// dialect (bulk inserts).
pub enum Conn<'c> {
    Postgres(&'c mut PgConnection),
    Sqlite(&'c mut SqliteConnection),
}

impl WriteTx {
    pub(crate) async fn postgres(pool: &sqlx::PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tx: Inner::Postgres(pool.begin().await?),
        })
    }

    pub(crate) async fn postgres_with(
        pool: &sqlx::PgPool,
        begin: &'static str,
    ) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tx: Inner::Postgres(pool.begin_with(begin).await?),
        })
    }

    pub(crate) async fn sqlite(
        pool: &sqlx::SqlitePool,
        writer: &Arc<Mutex<()>>,
    ) -> Result<Self, sqlx::Error> {
        // Begun in a task of its own: sqlx's `begin_with` on SQLite runs
        // `BEGIN IMMEDIATE` and only then creates the `Transaction` that
        // rolls back on drop, so a caller dropped in between (a request
        // whose client went away, an aborted task) would return the
        // connection to the pool inside the transaction, holding the write
        // lock for good. The task always finishes; if nobody awaits it any
        // more, its transaction is dropped there and rolls back.
        let writer = writer.clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            let guard = writer.lock_owned().await;
            let tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            Ok(Self {
                tx: Inner::Sqlite { tx, _writer: guard },
            })
        })
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("beginning a write transaction: {e}")))?
    }

    fn on(&mut self) -> On<'_> {
        match &mut self.tx {
            Inner::Postgres(tx) => On::Pg(tx),
            Inner::Sqlite { tx, .. } => On::Sqlite(tx),
        }
    }

    /// A statement in this transaction.
    pub fn query<'q>(&mut self, sql: &'q str) -> Query<'_, 'q> {
        Query::new(self.on(), sql)
    }

    /// A statement in this transaction whose rows decode as `O`.
    pub fn query_as<'q, O: Row>(&mut self, sql: &'q str) -> QueryAs<'_, 'q, O> {
        QueryAs::new(self.on(), sql)
    }

    /// The backend connection, for dialect-specific statements.
    pub fn conn(&mut self) -> Conn<'_> {
        match &mut self.tx {
            Inner::Postgres(tx) => Conn::Postgres(tx),
            Inner::Sqlite { tx, .. } => Conn::Sqlite(tx),
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.tx {
            Inner::Postgres(tx) => tx.commit().await,
            Inner::Sqlite { tx, .. } => tx.commit().await,
        }
    }

    /// Roll back now (a dropped transaction rolls back too, but only once
    /// its connection is next used or returned to the pool).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.tx {
            Inner::Postgres(tx) => tx.rollback().await,
            Inner::Sqlite { tx, .. } => tx.rollback().await,
        }
    }
}
