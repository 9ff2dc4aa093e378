//! Column types that decode the same on both backends.
//!
//! PostgreSQL has native types for times, UUIDs and exact decimals; SQLite
//! stores them as text. Each newtype here is one Rust type with the
//! PostgreSQL encoding on PostgreSQL and a canonical text encoding on
//! SQLite, so one row struct (`#[derive(sqlx::FromRow)]`) and one bind list
//! serve both:
//!
//! | type | PostgreSQL | SQLite |
//! |---|---|---|
//! | [`DbTime`] | `TIMESTAMPTZ` | fixed-width UTC text `YYYY-MM-DDTHH:MM:SS.ffffffZ` (sorts chronologically) |
//! | [`DbUuid`] | `UUID` | hyphenated text |
//! | [`DbDecimal`] | `NUMERIC` | exact decimal text |
//! | [`DbList`] | `TEXT[]` | a JSON array (read with `json_each`) |
//!
//! JSON columns use [`sqlx::types::Json`] (re-exported as [`Json`]), which is
//! `JSONB` on PostgreSQL and text on SQLite already. [`JsonText`] reads one
//! as its text without parsing it, for callers that parse it themselves.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type, TypeInfo, ValueRef};
use uuid::Uuid;

pub use sqlx::types::Json;

/// The fixed-width UTC text form timestamps take in SQLite (sorts
/// chronologically as text) and in logs.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parse an RFC 3339 timestamp (as SQLite columns hold them) to UTC.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc))
}

/// Implements `Type`, `Encode` and `Decode` for both backends: PostgreSQL
/// delegates to `$pg`; SQLite stores the text `$to_text` makes and
/// `$from_text` parses.
macro_rules! column_type {
    ($name:ident($inner:ty), pg = $pg:ty, to_text = $to_text:expr, from_text = $from_text:expr) => {
        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <$pg as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <$pg as Type<Postgres>>::compatible(ty)
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <$pg as Encode<Postgres>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(Self(<$pg as Decode<Postgres>>::decode(value)?))
            }
        }

        impl Type<Sqlite> for $name {
            fn type_info() -> SqliteTypeInfo {
                <String as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <String as Type<Sqlite>>::compatible(ty)
            }
        }

        impl<'q> Encode<'q, Sqlite> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut Vec<SqliteArgumentValue<'q>>,
            ) -> Result<IsNull, BoxDynError> {
                let to_text: fn(&$inner) -> String = $to_text;
                <String as Encode<Sqlite>>::encode(to_text(&self.0), buf)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $name {
            fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
                let raw = <&str as Decode<Sqlite>>::decode(value)?;
                let from_text: fn(&str) -> Result<$inner, BoxDynError> = $from_text;
                Ok(Self(from_text(raw)?))
            }
        }

        impl From<$inner> for $name {
            fn from(inner: $inner) -> Self {
                Self(inner)
            }
        }
    };
}

/// A UTC timestamp column (microsecond precision on both backends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbTime(pub DateTime<Utc>);

column_type!(
    DbTime(DateTime<Utc>),
    pg = DateTime<Utc>,
    to_text = |t| format_timestamp(*t),
    from_text = |raw| Ok(parse_timestamp(raw)?)
);

/// A UUID column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DbUuid(pub Uuid);

column_type!(
    DbUuid(Uuid),
    pg = Uuid,
    to_text = |u| u.hyphenated().to_string(),
    from_text = |raw| Ok(Uuid::parse_str(raw)?)
);

/// An exact decimal column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DbDecimal(pub Decimal);

column_type!(
    DbDecimal(Decimal),
    pg = Decimal,
    to_text = |d| d.to_string(),
    from_text = |raw| Ok(Decimal::from_str(raw)?)
);

/// A list of strings bound as one parameter, for membership tests written
/// with [`super::Dialect::in_list`]: a `TEXT[]` on PostgreSQL, a JSON
/// array on SQLite.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbList(pub Vec<String>);

impl<S: Into<String>> FromIterator<S> for DbList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

impl Type<Postgres> for DbList {
    fn type_info() -> PgTypeInfo {
        <Vec<String> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <Vec<String> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for DbList {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Vec<String> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl Type<Sqlite> for DbList {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for DbList {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(serde_json::to_string(&self.0)?, buf)
    }
}

/// A JSON column (`JSONB` or `JSON` on PostgreSQL, text on SQLite) read as
/// its text, unparsed: for a caller that deserializes it into its own type,
/// [`Json`]`<Box<RawValue>>` would parse every document twice (once to
/// validate it, once to read it), which a replay of the whole store pays
/// per event. Read only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(pub String);

impl Type<Postgres> for JsonText {
    fn type_info() -> PgTypeInfo {
        <Json<()> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <Json<()> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for JsonText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let binary_jsonb =
            value.format() == PgValueFormat::Binary && value.type_info().name() == "JSONB";
        let bytes = value.as_bytes()?;
        // JSONB's binary form is a version byte (1, the only one there is)
        // and the document's text.
        let text = match (binary_jsonb, bytes.split_first()) {
            (false, _) => bytes,
            (true, Some((1, text))) => text,
            (true, Some((version, _))) => {
                return Err(format!("unsupported JSONB format version {version}").into())
            }
            (true, None) => return Err("an empty JSONB value".into()),
        };
        Ok(Self(std::str::from_utf8(text)?.to_owned()))
    }
}

impl Type<Sqlite> for JsonText {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for JsonText {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<String as Decode<Sqlite>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_one_fixed_width_text_form_that_round_trips() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T00:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = format_timestamp(t);
        assert_eq!(text, "2026-03-01T00:00:00.500000Z");
        assert_eq!(parse_timestamp(&text).unwrap(), t);
    }
}
