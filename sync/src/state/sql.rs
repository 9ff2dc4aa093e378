//! One SQL text for both backends: statements are written with `$N`
//! placeholders (PostgreSQL) and rewritten to `?N` for SQLite. Every column
//! the sync uses is TEXT, BIGINT or BOOLEAN, so the same bindings work on
//! both. SQLite writes go through the ledger's writer lock.

use ledger::db::Database;
use ledger::store::sqlite::WriteTx;
use sqlx::{PgConnection, Postgres, SqliteConnection, Transaction};

use crate::error::SyncError;

/// The statement for SQLite: `$N` → `?N`.
pub(crate) fn lite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// A write transaction on either backend.
pub(crate) enum Tx<'a> {
    Pg(Transaction<'static, Postgres>),
    Lite(WriteTx<'a>),
}

/// A connection borrowed from a [`Tx`].
pub(crate) enum Conn<'c> {
    Pg(&'c mut PgConnection),
    Lite(&'c mut SqliteConnection),
}

impl<'a> Tx<'a> {
    pub(crate) async fn begin(db: &'a Database) -> Result<Tx<'a>, SyncError> {
        Ok(match db {
            Database::Postgres(s) => Tx::Pg(s.pool().begin().await?),
            Database::Sqlite(s) => Tx::Lite(s.begin_write().await?),
        })
    }

    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Pg(tx) => Conn::Pg(tx),
            Tx::Lite(w) => Conn::Lite(&mut w.tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), SyncError> {
        match self {
            Tx::Pg(tx) => tx.commit().await?,
            Tx::Lite(w) => w.tx.commit().await?,
        }
        Ok(())
    }
}

/// Run a statement on a [`Conn`]; evaluates to `Result<u64 rows affected, sqlx::Error>`.
macro_rules! execute {
    ($conn:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $conn {
            $crate::state::sql::Conn::Pg(c) => sqlx::query($sql)
                $(.bind($arg))*
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
            $crate::state::sql::Conn::Lite(c) => sqlx::query(&$crate::state::sql::lite($sql))
                $(.bind($arg))*
                .execute(c)
                .await
                .map(|r| r.rows_affected()),
        }
    };
}

/// Fetch rows as `$row` (a `sqlx::FromRow` for both backends) from a [`Conn`];
/// `$method` is `fetch_all` or `fetch_optional`.
macro_rules! fetch {
    ($method:ident, $row:ty, $conn:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $conn {
            $crate::state::sql::Conn::Pg(c) => sqlx::query_as::<_, $row>($sql)
                $(.bind($arg))*
                .$method(c)
                .await,
            $crate::state::sql::Conn::Lite(c) => {
                sqlx::query_as::<_, $row>(&$crate::state::sql::lite($sql))
                    $(.bind($arg))*
                    .$method(c)
                    .await
            }
        }
    };
}

/// Fetch rows from the pool (reads need no writer lock).
macro_rules! read {
    ($method:ident, $row:ty, $db:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $db {
            ledger::db::Database::Postgres(s) => sqlx::query_as::<_, $row>($sql)
                $(.bind($arg))*
                .$method(s.pool())
                .await,
            ledger::db::Database::Sqlite(s) => {
                sqlx::query_as::<_, $row>(&$crate::state::sql::lite($sql))
                    $(.bind($arg))*
                    .$method(s.pool())
                    .await
            }
        }
    };
}

pub(crate) use {execute, fetch, read};
