//! Typed inputs of the write side: each parses exactly the text its
//! OpenAPI schema describes (so the document and the server accept the same
//! requests), names the field it refuses, and yields a ledger value.
//!
//! Decimals are strings in one canonical grammar — digits, an optional
//! fraction of at most 12 digits, no sign, exponent, leading zeros or
//! spaces — bounded by their type; identifiers are plain ASCII; text is
//! bounded and free of control characters.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use ledger::money::{Amount, Quantity, UnitPrice, MAX_SCALE};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A refused field: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Digits of the largest integer part a decimal field may have: values
/// below `10^digits`, and `10^digits` itself.
fn decimal_pattern(digits: usize, positive: bool) -> String {
    let scale = MAX_SCALE as usize;
    let max = format!("1{}(\\.0{{1,{scale}}})?", "0".repeat(digits));
    let below = format!("[1-9][0-9]{{0,{}}}(\\.[0-9]{{1,{scale}}})?", digits - 1);
    let mut alternatives = vec![below, max];
    if positive {
        // 0.x with at least one non-zero digit among at most `scale` decimals.
        for zeros in 0..scale {
            alternatives.push(format!(
                "0\\.0{{{zeros}}}[1-9][0-9]{{0,{}}}",
                scale - zeros - 1
            ));
        }
    } else {
        alternatives.push(format!("0(\\.[0-9]{{1,{scale}}})?"));
    }
    format!("^({})$", alternatives.join("|"))
}

/// Parse the canonical decimal grammar (see the module docs), or say
/// exactly what is wrong with `text` as field `field`.
fn canonical_decimal(field: &str, text: &str, example: &str) -> Result<Decimal, FieldError> {
    let fail = |what: String| Err(FieldError::new(field, what));
    if text.starts_with('-') {
        return fail(format!("{field} must not be negative (got {text:?})"));
    }
    if text.contains(['e', 'E']) && text.parse::<f64>().is_ok() {
        return fail(format!(
            "{field} must be written out without an exponent, like \"{example}\" (got {text:?})"
        ));
    }
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return fail(format!(
            "{field} is not a decimal number such as \"{example}\": digits with an optional \
             fraction, no sign or spaces (got {text:?})"
        ));
    }
    if int.len() > 1 && int.starts_with('0') {
        return fail(format!(
            "{field} must be written without leading zeros (got {text:?})"
        ));
    }
    if frac.is_some_and(|f| f.len() > MAX_SCALE as usize) {
        return fail(format!(
            "{field} has more than {MAX_SCALE} decimal places (got {text:?})"
        ));
    }
    Decimal::from_str(text)
        .or_else(|_| fail(format!("{field} is far outside the range (got {text:?})")))
}

macro_rules! decimal_text {
    ($(#[$doc:meta])* $name:ident => $ledger:ty, digits = $digits:expr, positive = $positive:expr,
     what = $what:literal, example = $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name($ledger);

        impl $name {
            pub fn value(self) -> $ledger {
                self.0
            }

            /// Parse `text` as this field (`field` names it in the error).
            pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
                let value = canonical_decimal(field, text, $example)?;
                if $positive && value.is_zero() {
                    return Err(FieldError::new(field, format!("{field} must be more than 0")));
                }
                <$ledger>::try_from(value).map(Self).map_err(|_| {
                    FieldError::new(
                        field,
                        format!("{field} must be at most 1{} ({}; got {text:?})", "0".repeat($digits), $what),
                    )
                })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = Cow::<str>::deserialize(deserializer)?;
                Self::parse($what, &text).map_err(|e| serde::de::Error::custom(e.message))
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::Custom("decimal".into())))
                        .pattern(Some(decimal_pattern($digits, $positive)))
                        .description(Some(concat!(
                            "A decimal string (", $what, "): at most 12 decimal places, no sign, ",
                            "exponent or leading zeros."
                        )))
                        .examples([serde_json::Value::String($example.into())])
                        .build(),
                ))
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

decimal_text!(
    /// A usage quantity: 0 to 10^15.
    QuantityText => Quantity, digits = 15, positive = false, what = "quantity", example = "3600"
);
decimal_text!(
    /// A price per unit in currency units: 0 to 10^9.
    UnitPriceText => UnitPrice, digits = 9, positive = false, what = "unit price", example = "0.0000022"
);
decimal_text!(
    /// An amount of money in currency units, more than 0 and at most 10^12
    /// (rounded to the currency's minor unit when it lands on an invoice).
    AmountText => Amount, digits = 12, positive = true, what = "amount", example = "12.50"
);
decimal_text!(
    /// A non-negative amount of money: 0 to 10^12 (a flat fee, a minimum).
    FeeText => Amount, digits = 12, positive = false, what = "amount", example = "5.00"
);

/// The schema of an ISO 4217 currency code: one of the standard's codes.
pub struct CurrencyCode;

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(ledger::money::Currency::all_codes()))
                .description(Some("An ISO 4217 currency code, upper case."))
                .examples([serde_json::Value::String("USD".into())])
                .build(),
        ))
    }
}

impl ToSchema for CurrencyCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CurrencyCode")
    }
}

/// An identifier: 1 to `max` of `a-z`, `0-9`, `_`, `-` (meters, price ids).
pub fn plain_name(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{field} must be 1 to {max} of a-z, 0-9, `_`, `-`"),
        ))
    }
}

/// The pattern [`plain_name`] accepts, for schemas.
pub const PLAIN_NAME: &str = "^[a-z0-9_-]+$";

/// Free text: 1 to `max` characters (after trimming), no control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!(
                "{field} must be 1 to {max} characters, not all spaces, without control characters"
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

/// The pattern [`text`] accepts: no control characters (Unicode `Cc`), at
/// least one that is not a space (with `maxLength` beside it in schemas).
pub const TEXT: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";

/// A client-chosen key or id: 1 to `max` printable ASCII characters, no
/// spaces (idempotency keys, ids of charges and subscriptions, sources).
pub fn key(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(FieldError::new(
            field,
            format!("{field} must be 1 to {max} printable ASCII characters without spaces"),
        ));
    }
    Ok(())
}

/// The pattern [`key`] accepts (with `maxLength` beside it in schemas).
pub const KEY: &str = "^[!-~]+$";

/// The longest organization id the API takes: the streams named after an
/// organization (`invoice-<org>-<date>`) must stay within 200 bytes.
pub const MAX_ORG_ID: usize = 150;

/// An organization id as the API takes it: 1 to 150 of `A-Z a-z 0-9 . _ ~ : @ -`
/// (safe in a URL path without encoding).
pub fn org_id(field: &str, raw: &str) -> Result<ledger::OrgId, FieldError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_ORG_ID
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:@-".contains(&b));
    if !ok {
        return Err(FieldError::new(
            field,
            format!("{field} must be 1 to {MAX_ORG_ID} of A-Z, a-z, 0-9, `.`, `_`, `~`, `:`, `@`, `-` (got {raw:?})"),
        ));
    }
    ledger::OrgId::new(raw).map_err(|e| FieldError::new(field, e.to_string()))
}

/// The pattern [`org_id`] accepts (with `maxLength: 150` in schemas).
pub const ORG_ID: &str = "^[A-Za-z0-9._~:@-]+$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_in_one_canonical_grammar_within_their_bounds() {
        for ok in [
            "0",
            "0.5",
            "12",
            "3600.000000000001",
            "1000000000000000",
            "999999999999999.5",
        ] {
            assert!(QuantityText::parse("q", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " 1",
            "1 ",
            "+1",
            "-1",
            "-0",
            "01",
            "00.5",
            "1.",
            ".5",
            "1e3",
            "1.0000000000001",
            "1000000000000000.1",
            "1000000000000001",
            "NaN",
            "0x10",
        ] {
            assert!(
                QuantityText::parse("q", bad).is_err(),
                "{bad:?} was accepted"
            );
        }
        assert!(AmountText::parse("a", "0").is_err());
        assert!(AmountText::parse("a", "0.000").is_err());
        assert!(AmountText::parse("a", "0.01").is_ok());
        assert!(FeeText::parse("a", "0").is_ok());
    }

    #[test]
    fn the_schema_pattern_accepts_what_the_parser_accepts() {
        let pattern = regex_lite(&decimal_pattern(15, false));
        for sample in [
            "0",
            "0.5",
            "12",
            "1000000000000000",
            "1000000000000000.00",
            "01",
            "1e3",
            "-1",
            "1000000000000001",
        ] {
            assert_eq!(
                pattern(sample),
                QuantityText::parse("q", sample).is_ok(),
                "{sample}"
            );
        }
        let positive = regex_lite(&decimal_pattern(12, true));
        for sample in [
            "0",
            "0.0",
            "0.01",
            "0.000000000001",
            "0.0000000000001",
            "1",
            "1000000000000",
            "1000000000000.5",
        ] {
            assert_eq!(
                positive(sample),
                AmountText::parse("a", sample).is_ok(),
                "{sample}"
            );
        }
    }

    /// The pattern as a regular expression (the `regex` crate's syntax is
    /// a superset of what these patterns use).
    fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool {
        let re = regex::Regex::new(pattern).expect("pattern compiles");
        move |s| re.is_match(s)
    }
}
