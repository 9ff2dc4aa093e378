//! The few places where the two SQL dialects really differ, as fragments
//! to splice into an otherwise shared statement. Everything else — every
//! placeholder (`$N` works on both drivers, except in the multi-row
//! inserts of [`Dialect::values`]), every column type (see
//! [`super::columns`]) — is written once.

use super::Backend;

/// SQL fragments for one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect(pub(crate) Backend);

impl Dialect {
    pub fn backend(self) -> Backend {
        self.0
    }

    /// Membership of `expr` in a [`super::DbList`] bound at `param`
    /// (e.g. `"$2"`): `= ANY($2)` on PostgreSQL, `IN (SELECT value FROM
    /// json_each($2))` on SQLite.
    pub fn in_list(self, expr: &str, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{expr} = ANY({param})"),
            Backend::Sqlite => format!("{expr} IN (SELECT value FROM json_each({param}))"),
        }
    }

    /// A [`super::DbList`] bound at `param` as a table of one column,
    /// `value`, under `alias`: `unnest($1::text[]) AS s(value)` on
    /// PostgreSQL, `json_each($1) AS s` on SQLite.
    pub fn list_rows(self, param: &str, alias: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("unnest({param}::text[]) AS {alias}(value)"),
            Backend::Sqlite => format!("json_each({param}) AS {alias}"),
        }
    }

    /// The text form of a top-level field of a JSON column, the field name
    /// bound at `param`: `col ->> $3` on PostgreSQL, `CAST(json_extract(col,
    /// '$.' || $3) AS TEXT)` on SQLite (callers only bind plain identifiers).
    pub fn json_field_text(self, column: &str, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{column} ->> {param}"),
            Backend::Sqlite => format!("CAST(json_extract({column}, '$.' || {param}) AS TEXT)"),
        }
    }

    /// A time column as the canonical text of [`super::format_timestamp`]
    /// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), for reads that must survive a value
    /// the time type cannot decode: `to_char(…)` on PostgreSQL; the column
    /// itself on SQLite, which stores that text.
    pub fn time_text(self, column: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            }
            Backend::Sqlite => column.to_owned(),
        }
    }

    /// The tuples of a multi-row `INSERT … VALUES`: `rows` tuples of
    /// `columns` fresh parameters each, bound row by row in order. `($1,
    /// $2), ($3, $4)` on PostgreSQL; `(?, ?), (?, ?)` on SQLite, because
    /// sqlx asks SQLite for every parameter's name and SQLite finds a
    /// numbered one by walking the statement's list of them, so `$N`
    /// makes a statement of n parameters cost O(n²) (measured on the
    /// event insert: 0.42 of raw against 0.80 with `?`).
    pub fn values(self, rows: usize, columns: usize) -> String {
        let mut sql = String::with_capacity(rows * columns * 6);
        let mut param = 0;
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for column in 0..columns {
                if column > 0 {
                    sql.push_str(", ");
                }
                param += 1;
                match self.0 {
                    Backend::Postgres => {
                        sql.push('$');
                        sql.push_str(&param.to_string());
                    }
                    Backend::Sqlite => sql.push('?'),
                }
            }
            sql.push(')');
        }
        sql
    }

    /// Row locks for a claim: `FOR UPDATE SKIP LOCKED` on PostgreSQL;
    /// nothing on SQLite, whose write transaction already excludes every
    /// other writer.
    pub fn skip_locked(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// A row lock for read-then-update in a write transaction: `FOR
    /// UPDATE` on PostgreSQL; nothing on SQLite (see [`Dialect::skip_locked`]).
    pub fn for_update(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_differ_only_where_the_dialects_do() {
        let pg = Dialect(Backend::Postgres);
        let lite = Dialect(Backend::Sqlite);
        assert_eq!(pg.in_list("event_type", "$2"), "event_type = ANY($2)");
        assert_eq!(
            lite.in_list("event_type", "$2"),
            "event_type IN (SELECT value FROM json_each($2))"
        );
        assert_eq!(pg.json_field_text("payload", "$3"), "payload ->> $3");
        assert_eq!(
            lite.json_field_text("payload", "$3"),
            "CAST(json_extract(payload, '$.' || $3) AS TEXT)"
        );
        assert_eq!(pg.values(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(lite.values(2, 2), "(?, ?), (?, ?)");
        assert_eq!(pg.values(1, 3), "($1, $2, $3)");
    }
}
