//! Money and quantity primitives on `rust_decimal`.
//!
//! Every value is validated when it is constructed or deserialised, so a
//! quantity, price or amount inside an event is always finite, in range and
//! at a precision Stripe accepts. `rust_decimal` has no NaN or infinity, and
//! parsing "NaN", "inf" or "1e400" fails; the bounds below keep arithmetic on
//! valid values (sums of millions of quantities, price × quantity) far away
//! from `Decimal`'s 28-digit limit.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

/// Why a value was refused at the boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("`{0}` is not a decimal number")]
    NotADecimal(String),
    #[error("`{0}` is far outside the range of any quantity or amount")]
    OutOfRange(String),
    #[error("{what} must not be negative (got {value})")]
    Negative { what: &'static str, value: Decimal },
    #[error("{what} {value} exceeds the maximum of {max}")]
    TooLarge {
        what: &'static str,
        value: Decimal,
        max: Decimal,
    },
    #[error("{what} {value} has more than {max_scale} decimal places")]
    TooPrecise {
        what: &'static str,
        value: Decimal,
        max_scale: u32,
    },
    #[error("`{0}` is not an ISO 4217 currency code")]
    UnknownCurrency(String),
}

/// Largest quantity one usage record may carry: 10^15 units (a petabyte of
/// bytes, ~31 million years of seconds). Sums over a month stay below 10^22.
pub const MAX_QUANTITY: Decimal = dec!(1_000_000_000_000_000);
/// Largest money amount on one line or event: 10^12 currency units.
pub const MAX_AMOUNT: Decimal = dec!(1_000_000_000_000);
/// Largest unit price: 10^9 currency units per unit.
pub const MAX_UNIT_PRICE: Decimal = dec!(1_000_000_000);
/// Stripe accepts `unit_amount_decimal` with at most 12 decimal places (in
/// minor units); we keep quantities and prices to 12 places as well.
pub const MAX_SCALE: u32 = 12;

fn check(
    what: &'static str,
    value: Decimal,
    allow_negative: bool,
    max: Decimal,
) -> Result<Decimal, ValueError> {
    if !allow_negative && value.is_sign_negative() && !value.is_zero() {
        return Err(ValueError::Negative { what, value });
    }
    if value.abs() > max {
        return Err(ValueError::TooLarge { what, value, max });
    }
    let mut normalized = value.normalize();
    if normalized.scale() > MAX_SCALE {
        return Err(ValueError::TooPrecise {
            what,
            value,
            max_scale: MAX_SCALE,
        });
    }
    // `-0` is zero: keep one spelling, so it serialises as `0`.
    if normalized.is_zero() {
        normalized.set_sign_positive(true);
    }
    Ok(normalized)
}

fn parse(s: &str) -> Result<Decimal, ValueError> {
    let trimmed = s.trim();
    Decimal::from_str(trimmed)
        .or_else(|_| Decimal::from_scientific(trimmed))
        .map_err(|_| {
            // Only to word the error: a finite float spelling that Decimal
            // cannot hold (28 digits) is out of range, not malformed.
            if trimmed.parse::<f64>().is_ok_and(f64::is_finite) {
                ValueError::OutOfRange(s.to_owned())
            } else {
                ValueError::NotADecimal(s.to_owned())
            }
        })
}

macro_rules! decimal_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, allow_negative = $neg:expr, max = $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(try_from = "Decimal", into = "Decimal")]
        pub struct $name(Decimal);

        impl $name {
            pub const ZERO: Self = Self(Decimal::ZERO);

            /// The validated decimal value.
            pub fn value(self) -> Decimal {
                self.0
            }
        }

        impl TryFrom<Decimal> for $name {
            type Error = ValueError;
            fn try_from(value: Decimal) -> Result<Self, ValueError> {
                check($what, value, $neg, $max).map(Self)
            }
        }

        impl From<$name> for Decimal {
            fn from(value: $name) -> Decimal {
                value.0
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                Self::try_from(parse(s)?)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

decimal_newtype!(
    /// A non-negative usage quantity (seconds, GB-hours, bytes…), up to
    /// [`MAX_QUANTITY`] with at most [`MAX_SCALE`] decimal places.
    Quantity, "quantity", allow_negative = false, max = MAX_QUANTITY
);
decimal_newtype!(
    /// A non-negative price per unit in currency units (not minor units),
    /// e.g. `0.0000022` dollars per CPU-second.
    UnitPrice, "unit price", allow_negative = false, max = MAX_UNIT_PRICE
);
decimal_newtype!(
    /// A signed amount of money in currency units (credits are negative
    /// lines), up to [`MAX_AMOUNT`] in magnitude.
    Amount, "amount", allow_negative = true, max = MAX_AMOUNT
);

decimal_newtype!(
    /// A non-negative amount of money in currency units, up to
    /// [`MAX_AMOUNT`]: what a price adds on its own (a tier's flat fee, a
    /// minimum charge), which can never be a refund.
    NonNegativeAmount, "amount", allow_negative = false, max = MAX_AMOUNT
);

impl Amount {
    /// A positive amount: charges and credit grants are stated as positive
    /// values; the sign of an invoice line comes from its kind.
    pub fn positive(value: Decimal) -> Result<Self, ValueError> {
        check("amount", value, false, MAX_AMOUNT).map(Self)
    }
}

/// An ISO 4217 currency, stored as its upper-case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub const USD: Self = Self(iso_currency::Currency::USD);
    pub const EUR: Self = Self(iso_currency::Currency::EUR);

    /// Every ISO 4217 code, in the standard's order (for schemas).
    pub fn all_codes() -> Vec<&'static str> {
        use iso_currency::IntoEnumIterator;
        iso_currency::Currency::iter().map(|c| c.code()).collect()
    }

    /// The upper-case ISO code, e.g. `USD`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the currency's minor unit (2 for USD, 0 for JPY).
    pub fn minor_unit_scale(self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }

    /// Round an amount once, to the minor unit, half away from zero
    /// ("commercial rounding": 0.125 → 0.13, -0.125 → -0.13). This is the
    /// one rounding rule of the ledger; see NOTES.md.
    pub fn round(self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(
            self.minor_unit_scale(),
            RoundingStrategy::MidpointAwayFromZero,
        )
    }

    /// An invoice amount: `amount` rounded once with [`Currency::round`] and
    /// written with exactly the minor unit's decimal places (`20` → `20.00`
    /// in USD, `20` in JPY, never `-0.00`). Refused when the rounded amount
    /// is beyond ±[`MAX_AMOUNT`], the bound every amount on an invoice keeps
    /// (it also keeps the minor unit's places representable: 13 integer
    /// digits plus at most 4 decimals is far inside `Decimal`'s 28).
    pub fn invoice_amount(self, amount: Decimal) -> Result<Decimal, ValueError> {
        let mut rounded = self.round(amount);
        if rounded.abs() > MAX_AMOUNT {
            return Err(ValueError::TooLarge {
                what: "invoice amount",
                value: rounded,
                max: MAX_AMOUNT,
            });
        }
        rounded.rescale(self.minor_unit_scale());
        if rounded.is_zero() {
            rounded.set_sign_positive(true);
        }
        Ok(rounded)
    }

    /// An amount already rounded to the minor unit, as integer minor units
    /// (what Stripe's `amount` fields take). `None` if it does not fit.
    pub fn to_minor_units(self, amount: Decimal) -> Option<i64> {
        use rust_decimal::prelude::ToPrimitive;
        let scaled = self.round(amount) * Decimal::from(10_i64.pow(self.minor_unit_scale()));
        scaled.to_i64()
    }
}

impl FromStr for Currency {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        iso_currency::Currency::from_code(&s.trim().to_ascii_uppercase())
            .map(Self)
            .ok_or_else(|| ValueError::UnknownCurrency(s.to_owned()))
    }
}

impl TryFrom<String> for Currency {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, ValueError> {
        value.parse()
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> String {
        value.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_refuses_nan_infinity_and_garbage() {
        for bad in [
            "NaN", "inf", "-inf", "Infinity", "", "12abc", "1e400", "0x10",
        ] {
            assert!(bad.parse::<Quantity>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn quantity_refuses_negative_too_large_and_too_precise() {
        assert!(matches!(
            "-1".parse::<Quantity>(),
            Err(ValueError::Negative { .. })
        ));
        assert!(matches!(
            "1000000000000001".parse::<Quantity>(),
            Err(ValueError::TooLarge { .. })
        ));
        assert!(matches!(
            "0.0000000000001".parse::<Quantity>(),
            Err(ValueError::TooPrecise { .. })
        ));
        assert!(matches!(
            "1e30".parse::<Quantity>(),
            Err(ValueError::OutOfRange(_))
        ));
        assert!(matches!(
            "1e20".parse::<Quantity>(),
            Err(ValueError::TooLarge { .. })
        ));
    }

    #[test]
    fn quantity_accepts_exact_decimals_and_normalises_trailing_zeros() {
        let q: Quantity = "12.500".parse().unwrap();
        assert_eq!(q.value(), dec!(12.5));
        assert_eq!("1e3".parse::<Quantity>().unwrap().value(), dec!(1000));
        assert_eq!(
            "1000000000000000".parse::<Quantity>().unwrap().value(),
            MAX_QUANTITY
        );
        assert_eq!("-0".parse::<Quantity>().unwrap().value(), Decimal::ZERO);
    }

    #[test]
    fn quantity_deserialises_through_validation() {
        assert!(serde_json::from_str::<Quantity>("\"-5\"").is_err());
        let q: Quantity = serde_json::from_str("\"0.0000022\"").unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"0.0000022\"");
    }

    #[test]
    fn amounts_may_be_negative_but_bounded() {
        assert_eq!("-10.5".parse::<Amount>().unwrap().value(), dec!(-10.5));
        assert!("-1000000000001".parse::<Amount>().is_err());
        assert!(Amount::positive(dec!(-1)).is_err());
    }

    #[test]
    fn negative_zero_is_stored_and_shown_as_zero() {
        let q: Quantity = "-0".parse().unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"0\"");
        let a: Amount = "-0.00".parse().unwrap();
        assert_eq!(a.to_string(), "0");
    }

    #[test]
    fn a_non_negative_amount_refuses_negatives_and_amounts_beyond_the_bound() {
        assert!(matches!(
            "-5".parse::<NonNegativeAmount>(),
            Err(ValueError::Negative { .. })
        ));
        assert!(matches!(
            "1000000000000.01".parse::<NonNegativeAmount>(),
            Err(ValueError::TooLarge { .. })
        ));
        assert!(serde_json::from_str::<NonNegativeAmount>("\"-0.01\"").is_err());
        assert_eq!(
            "0".parse::<NonNegativeAmount>().unwrap(),
            NonNegativeAmount::ZERO
        );
        assert_eq!(
            "1000000000000"
                .parse::<NonNegativeAmount>()
                .unwrap()
                .value(),
            MAX_AMOUNT
        );
    }

    #[test]
    fn invoice_amounts_carry_exactly_the_minor_units_places() {
        let usd = Currency::USD;
        let text = |d: Decimal| d.to_string();
        assert_eq!(text(usd.invoice_amount(dec!(20)).unwrap()), "20.00");
        assert_eq!(text(usd.invoice_amount(dec!(20.0)).unwrap()), "20.00");
        assert_eq!(text(usd.invoice_amount(dec!(3.3485592)).unwrap()), "3.35");
        assert_eq!(text(usd.invoice_amount(dec!(-0.001)).unwrap()), "0.00");
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(text(jpy.invoice_amount(dec!(20.4)).unwrap()), "20");
        let kwd: Currency = "KWD".parse().unwrap();
        assert_eq!(text(kwd.invoice_amount(dec!(1.5)).unwrap()), "1.500");
        assert_eq!(
            text(usd.invoice_amount(dec!(-999999999999.994)).unwrap()),
            "-999999999999.99"
        );
    }

    #[test]
    fn invoice_amounts_beyond_the_amount_bound_are_refused_not_clamped() {
        let usd = Currency::USD;
        // Rounds up to exactly the bound: still an amount.
        assert_eq!(
            usd.invoice_amount(dec!(999999999999.995)).unwrap(),
            MAX_AMOUNT
        );
        assert!(matches!(
            usd.invoice_amount(dec!(1000000000000.005)),
            Err(ValueError::TooLarge { .. })
        ));
        // What 3,000 records at the largest quantity and unit price sum to.
        assert!(usd
            .invoice_amount(dec!(3000000000000000000000000020))
            .is_err());
        assert!(usd.invoice_amount(-Decimal::MAX).is_err());
    }

    #[test]
    fn currency_rounds_half_away_from_zero_to_its_minor_unit() {
        let usd: Currency = "usd".parse().unwrap();
        assert_eq!(usd.round(dec!(0.125)), dec!(0.13));
        assert_eq!(usd.round(dec!(-0.125)), dec!(-0.13));
        assert_eq!(usd.round(dec!(0.124999)), dec!(0.12));
        assert_eq!(usd.to_minor_units(dec!(12.345)), Some(1235));
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(jpy.minor_unit_scale(), 0);
        assert_eq!(jpy.to_minor_units(dec!(99.5)), Some(100));
        assert!("XYZ".parse::<Currency>().is_err());
    }
}
