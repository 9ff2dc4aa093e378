//! One statement text, run on either backend.
//!
//! sqlx's SQLite driver binds `$1, $2, …` by number just as PostgreSQL
//! does, so a statement is written once. [`Query`] and [`QueryAs`] carry
//! the statement with its bound parameters and where it runs — the pool
//! (reads) or a [`super::WriteTx`] (writes) — for whichever backend the
//! database is. Parameters must encode on both backends ([`Param`]: plain
//! integers, text, booleans and the column types of [`super::columns`]);
//! rows must decode on both ([`Row`]: `#[derive(sqlx::FromRow)]` over such
//! columns, or a tuple of them).

use futures::stream::BoxStream;
use futures::StreamExt;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{
    Encode, FromRow, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Type,
};

/// A value that binds on both backends.
pub trait Param<'q>:
    Send + 'q + Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite>
{
}

impl<'q, T> Param<'q> for T where
    T: Send + 'q + Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite>
{
}

/// A row type that decodes on both backends.
pub trait Row: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin {}

impl<T> Row for T where T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{}

/// Where a statement runs.
pub(crate) enum On<'c> {
    PgPool(&'c PgPool),
    SqlitePool(&'c SqlitePool),
    Pg(&'c mut PgConnection),
    Sqlite(&'c mut SqliteConnection),
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;
type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;
type PgQueryAs<'q, O> = sqlx::query::QueryAs<'q, Postgres, O, PgArguments>;
type SqliteQueryAs<'q, O> = sqlx::query::QueryAs<'q, Sqlite, O, SqliteArguments<'q>>;

/// A statement that returns no rows (see [`super::Database::query`]).
#[must_use = "a query does nothing until it is executed"]
pub enum Query<'c, 'q> {
    #[doc(hidden)]
    PgPool(&'c PgPool, PgQuery<'q>),
    #[doc(hidden)]
    SqlitePool(&'c SqlitePool, SqliteQuery<'q>),
    #[doc(hidden)]
    Pg(&'c mut PgConnection, PgQuery<'q>),
    #[doc(hidden)]
    Sqlite(&'c mut SqliteConnection, SqliteQuery<'q>),
}

impl<'c, 'q> Query<'c, 'q> {
    pub(crate) fn new(on: On<'c>, sql: &'q str) -> Self {
        match on {
            On::PgPool(p) => Self::PgPool(p, sqlx::query(sql)),
            On::SqlitePool(p) => Self::SqlitePool(p, sqlx::query(sql)),
            On::Pg(c) => Self::Pg(c, sqlx::query(sql)),
            On::Sqlite(c) => Self::Sqlite(c, sqlx::query(sql)),
        }
    }

    /// Bind the next `$N` parameter.
    pub fn bind<T: Param<'q>>(self, value: T) -> Self {
        match self {
            Self::PgPool(p, q) => Self::PgPool(p, q.bind(value)),
            Self::SqlitePool(p, q) => Self::SqlitePool(p, q.bind(value)),
            Self::Pg(c, q) => Self::Pg(c, q.bind(value)),
            Self::Sqlite(c, q) => Self::Sqlite(c, q.bind(value)),
        }
    }

    /// Run it; the number of rows it changed.
    pub async fn execute(self) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Self::PgPool(p, q) => q.execute(p).await?.rows_affected(),
            Self::SqlitePool(p, q) => q.execute(p).await?.rows_affected(),
            Self::Pg(c, q) => q.execute(c).await?.rows_affected(),
            Self::Sqlite(c, q) => q.execute(c).await?.rows_affected(),
        })
    }
}

/// A statement whose rows decode as `O` (see [`super::Database::query_as`]).
#[must_use = "a query does nothing until it is fetched"]
pub enum QueryAs<'c, 'q, O> {
    #[doc(hidden)]
    PgPool(&'c PgPool, PgQueryAs<'q, O>),
    #[doc(hidden)]
    SqlitePool(&'c SqlitePool, SqliteQueryAs<'q, O>),
    #[doc(hidden)]
    Pg(&'c mut PgConnection, PgQueryAs<'q, O>),
    #[doc(hidden)]
    Sqlite(&'c mut SqliteConnection, SqliteQueryAs<'q, O>),
}

impl<'c, 'q, O: Row> QueryAs<'c, 'q, O> {
    pub(crate) fn new(on: On<'c>, sql: &'q str) -> Self {
        match on {
            On::PgPool(p) => Self::PgPool(p, sqlx::query_as(sql)),
            On::SqlitePool(p) => Self::SqlitePool(p, sqlx::query_as(sql)),
            On::Pg(c) => Self::Pg(c, sqlx::query_as(sql)),
            On::Sqlite(c) => Self::Sqlite(c, sqlx::query_as(sql)),
        }
    }

    /// Bind the next `$N` parameter.
    pub fn bind<T: Param<'q>>(self, value: T) -> Self {
        match self {
            Self::PgPool(p, q) => Self::PgPool(p, q.bind(value)),
            Self::SqlitePool(p, q) => Self::SqlitePool(p, q.bind(value)),
            Self::Pg(c, q) => Self::Pg(c, q.bind(value)),
            Self::Sqlite(c, q) => Self::Sqlite(c, q.bind(value)),
        }
    }

    pub async fn fetch_all(self) -> Result<Vec<O>, sqlx::Error> {
        match self {
            Self::PgPool(p, q) => q.fetch_all(p).await,
            Self::SqlitePool(p, q) => q.fetch_all(p).await,
            Self::Pg(c, q) => q.fetch_all(c).await,
            Self::Sqlite(c, q) => q.fetch_all(c).await,
        }
    }

    pub async fn fetch_optional(self) -> Result<Option<O>, sqlx::Error> {
        match self {
            Self::PgPool(p, q) => q.fetch_optional(p).await,
            Self::SqlitePool(p, q) => q.fetch_optional(p).await,
            Self::Pg(c, q) => q.fetch_optional(c).await,
            Self::Sqlite(c, q) => q.fetch_optional(c).await,
        }
    }

    pub async fn fetch_one(self) -> Result<O, sqlx::Error> {
        match self {
            Self::PgPool(p, q) => q.fetch_one(p).await,
            Self::SqlitePool(p, q) => q.fetch_one(p).await,
            Self::Pg(c, q) => q.fetch_one(c).await,
            Self::Sqlite(c, q) => q.fetch_one(c).await,
        }
    }

    /// Rows as a stream, decoded one at a time (large scans).
    pub fn fetch(self) -> BoxStream<'c, Result<O, sqlx::Error>>
    where
        'q: 'c,
        O: 'c,
    {
        match self {
            Self::PgPool(p, q) => q.fetch(p),
            Self::SqlitePool(p, q) => q.fetch(p),
            Self::Pg(c, q) => q.fetch(c),
            Self::Sqlite(c, q) => q.fetch(c),
        }
        .boxed()
    }
}
