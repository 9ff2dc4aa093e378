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

/// An amount as the invoice shows it: rounded once to the minor unit.
pub(crate) fn amount(currency: Currency, value: Decimal) -> String {
    money(currency, currency.round(value))
}

/// A quantity with its unit, pluralised: `1 second`, `2 seconds`,
/// `1.5 GB-hours`, `12 GB`, `3 queries`. An empty unit reads `unit`.
pub(crate) fn quantity_of(value: Decimal, unit: &str) -> String {
    format!("{} {}", quantity(value), units(unit, value))
}

/// `unit` as it reads after `value`: singular for exactly one, else plural.
///
/// The last word of the unit is pluralised (`GB-hour` → `GB-hours`,
/// `CPU second` → `CPU seconds`) by the regular English rules (`-s`;
/// `-es` after s, x, z, ch, sh; `-ies` after a consonant + y). A last word
/// that is a symbol — any upper-case letter (`GB`, `GiB`, `vCPU`), at most
/// two letters (`s`, `ms`, `h`), or already ending in `s` (`bytes`) — or a
/// unit that does not end in a letter (`m³`) stays as it is.
pub(crate) fn units(unit: &str, value: Decimal) -> String {
    let unit = clip(unit.trim(), UNIT_MAX);
    let unit = if unit.is_empty() {
        "unit".to_owned()
    } else {
        unit
    };
    if value.abs() == Decimal::ONE {
        return unit;
    }
    let start = unit
        .char_indices()
        .rev()
        .find(|(_, c)| !c.is_ascii_alphabetic())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let (head, word) = unit.split_at(start);
    let symbol =
        word.len() <= 2 || word.chars().any(|c| c.is_ascii_uppercase()) || word.ends_with('s');
    if symbol {
        return unit.clone();
    }
    let lower = word.to_ascii_lowercase();
    let plural = if lower.ends_with('x')
        || lower.ends_with('z')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
    {
        format!("{word}es")
    } else if lower.ends_with('y') && !lower[..lower.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{}ies", &word[..word.len() - 1])
    } else {
        format!("{word}s")
    };
    format!("{head}{plural}")
}

/// The longest unit an invoice line spells out, in characters.
const UNIT_MAX: usize = 40;

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
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

    #[test]
    fn units_are_pluralised_unless_one_or_a_symbol() {
        let cases = [
            ("second", "1", "1 second"),
            ("second", "4185699", "4,185,699 seconds"),
            ("second", "0", "0 seconds"),
            ("second", "1.5", "1.5 seconds"),
            ("GB-hour", "23214.447", "23,214.447 GB-hours"),
            ("GB", "12", "12 GB"),
            ("GiB", "12", "12 GiB"),
            ("vCPU", "2", "2 vCPU"),
            ("CPU second", "2", "2 CPU seconds"),
            ("query", "3", "3 queries"),
            ("day", "3", "3 days"),
            ("inch", "2", "2 inches"),
            ("box", "2", "2 boxes"),
            ("bytes", "2", "2 bytes"),
            ("ms", "2", "2 ms"),
            ("m³", "2", "2 m³"),
            ("", "2", "2 units"),
            ("request", "1.0", "1 request"),
        ];
        for (unit, value, expected) in cases {
            assert_eq!(quantity_of(value.parse().unwrap(), unit), expected);
        }
    }

    #[test]
    fn clipping_counts_characters_and_marks_the_cut() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ééééé", 4).chars().count(), 4);
    }
}
