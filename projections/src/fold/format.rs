//! Human formatting of quantities and money for line descriptions.

use chrono::{DateTime, Utc};
use ledger::money::Currency;
use rust_decimal::Decimal;

/// `12345.5` → `12,345.5` (trailing zeros dropped).
pub(crate) fn quantity(value: Decimal) -> String {
    group(&value.normalize().to_string())
}

/// `5` → `$5.00`, `0.0000022` → `$0.0000022`, `-3` → `-$3.00`: at least the
/// currency's minor unit, more when the value has more places.
pub(crate) fn money(currency: Currency, value: Decimal) -> String {
    let mut v = value.normalize();
    let minor = currency.minor_unit_scale();
    if v.scale() < minor {
        v.rescale(minor);
    }
    let text = group(&v.abs().to_string());
    let sign = if v.is_sign_negative() && !v.is_zero() {
        "-"
    } else {
        ""
    };
    match currency.code() {
        "USD" => format!("{sign}${text}"),
        "EUR" => format!("{sign}€{text}"),
        "GBP" => format!("{sign}£{text}"),
        code => format!("{sign}{text} {code}"),
    }
}

pub(crate) fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

fn group(text: &str) -> String {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3 + 1);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn quantities_and_money_are_grouped_by_thousands() {
        assert_eq!(quantity(dec!(12345.50)), "12,345.5");
        assert_eq!(quantity(dec!(100)), "100");
        assert_eq!(money(Currency::USD, dec!(0.0000022)), "$0.0000022");
        assert_eq!(money(Currency::USD, dec!(-1234)), "-$1,234.00");
        assert_eq!(money(Currency::EUR, dec!(5.1)), "€5.10");
    }
}
