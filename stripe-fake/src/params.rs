//! Form (and query) parameters as Stripe reads them: flat `key=value` pairs whose keys
//! may nest one level (`metadata[k]`, `period[start]`, `expand[]`, `expand[0]`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::error::StripeErr;

/// What a parameter may hold; the fake refuses anything else, as Stripe does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Str,
    Int,
    Bool,
    Decimal,
    Enum(&'static [&'static str]),
    /// `name[any]=string`, or `name=` to clear.
    Map,
    /// `name[field]=…` with these fields (all integers here).
    Object(&'static [&'static str]),
    /// `name[]=…` or `name[N]=…`.
    Array,
}

/// The parameters an operation accepts.
pub(crate) type Spec = &'static [(&'static str, Kind)];

#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

fn split_key(key: &str) -> (&str, Option<&str>) {
    match key.split_once('[') {
        Some((base, rest)) if rest.ends_with(']') => (base, Some(&rest[..rest.len() - 1])),
        _ => (key, None),
    }
}

impl Params {
    pub fn parse(raw: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// Equal for requests with the same parameters, whatever their order.
    pub fn fingerprint(&self) -> Vec<(String, String)> {
        let mut pairs = self.pairs.clone();
        pairs.sort();
        pairs
    }

    /// Refuses unknown parameters (`parameter_unknown`) and values of the wrong type.
    pub fn check(&self, spec: Spec) -> Result<(), StripeErr> {
        for (key, value) in &self.pairs {
            let (base, sub) = split_key(key);
            let Some((_, kind)) = spec.iter().find(|(name, _)| *name == base) else {
                return Err(unknown(key));
            };
            match (kind, sub) {
                (Kind::Map, Some(k)) if !k.is_empty() => {}
                (Kind::Map, None) if value.is_empty() => {}
                (Kind::Object(fields), Some(f)) if fields.contains(&f) => {
                    parse_int(key, value)?;
                }
                (Kind::Array, Some(i)) if i.is_empty() || i.parse::<u32>().is_ok() => {}
                (Kind::Str, None) => {}
                (Kind::Int, None) => {
                    parse_int(key, value)?;
                }
                (Kind::Bool, None) => {
                    parse_bool(key, value)?;
                }
                (Kind::Decimal, None) => {
                    parse_decimal(key, value)?;
                }
                (Kind::Enum(allowed), None) if allowed.contains(&value.as_str()) => {}
                (Kind::Enum(allowed), None) => {
                    return Err(StripeErr::invalid(format!(
                        "Invalid {key}: must be one of {}",
                        allowed.join(", ")
                    ))
                    .param(key.clone()))
                }
                _ => return Err(unknown(key)),
            }
        }
        Ok(())
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| split_key(k).0 == name)
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, StripeErr> {
        self.str(name).map(|v| parse_int(name, v)).transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, StripeErr> {
        self.str(name).map(|v| parse_bool(name, v)).transpose()
    }

    pub fn decimal(&self, name: &str) -> Result<Option<Decimal>, StripeErr> {
        self.str(name).map(|v| parse_decimal(name, v)).transpose()
    }

    /// `name[k]=v` pairs; a bare `name=` yields `Some(empty)` meaning "clear all".
    pub fn map(&self, name: &str) -> Option<Vec<(String, String)>> {
        let mut found = false;
        let mut out = Vec::new();
        for (key, value) in &self.pairs {
            match split_key(key) {
                (base, Some(sub)) if base == name => {
                    found = true;
                    out.push((sub.to_owned(), value.clone()));
                }
                (base, None) if base == name => {
                    found = true;
                    out.clear();
                }
                _ => {}
            }
        }
        found.then_some(out)
    }

    /// `name[]=…` / `name[N]=…` values, in order.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| matches!(split_key(k), (base, Some(_)) if base == name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `name[field]` as an integer.
    pub fn field_int(&self, name: &str, field: &str) -> Result<Option<i64>, StripeErr> {
        self.int(&format!("{name}[{field}]"))
    }
}

fn unknown(key: &str) -> StripeErr {
    StripeErr::invalid(format!("Received unknown parameter: {key}"))
        .code("parameter_unknown")
        .param(key)
}

fn parse_int(key: &str, value: &str) -> Result<i64, StripeErr> {
    value.parse().map_err(|_| {
        StripeErr::invalid(format!("Invalid integer: {value}"))
            .code("parameter_invalid_integer")
            .param(key)
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool, StripeErr> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(StripeErr::invalid(format!(
            "Invalid boolean: {value}. Must be one of true or false."
        ))
        .param(key)),
    }
}

fn parse_decimal(key: &str, value: &str) -> Result<Decimal, StripeErr> {
    let invalid = || StripeErr::invalid(format!("Invalid decimal: {value}")).param(key);
    let decimal: Decimal = value.parse().map_err(|_| invalid())?;
    if decimal.normalize().scale() > 12 {
        return Err(invalid());
    }
    Ok(decimal)
}

/// Applies Stripe's metadata update rules: set keys, empty value unsets, `metadata=`
/// clears; at most 50 keys, keys up to 40 and values up to 500 characters.
pub(crate) fn merged_metadata(
    current: &BTreeMap<String, String>,
    params: &Params,
) -> Result<BTreeMap<String, String>, StripeErr> {
    let mut target = current.clone();
    let Some(updates) = params.map("metadata") else {
        return Ok(target);
    };
    if updates.is_empty() {
        target.clear();
    }
    for (key, value) in updates {
        if key.chars().count() > 40 {
            return Err(StripeErr::invalid(
                "Metadata keys can have up to 40 characters.".to_owned(),
            )
            .param(format!("metadata[{key}]")));
        }
        if value.chars().count() > 500 {
            return Err(StripeErr::invalid(
                "Metadata values can have up to 500 characters.".to_owned(),
            )
            .param(format!("metadata[{key}]")));
        }
        if value.is_empty() {
            target.remove(&key);
        } else {
            target.insert(key, value);
        }
    }
    if target.len() > 50 {
        return Err(StripeErr::invalid("Metadata can have up to 50 keys.").param("metadata"));
    }
    Ok(target)
}
