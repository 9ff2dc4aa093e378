//! Walking the OpenAPI extract: operations, parameter schemas, values.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::RecordedRequest;

/// The path template matching `path` that has `method`, preferring literal segments
/// over `{templates}` (so `/v1/invoices/search` is not `/v1/invoices/{invoice}`).
pub(super) fn template_of(spec: &Value, method: &str, path: &str) -> Option<String> {
    let paths = spec.get("paths")?.as_object()?;
    let segments: Vec<&str> = path.split('/').collect();
    let score = |template: &str| -> Option<usize> {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut literal = 0;
        for (t, s) in parts.iter().zip(&segments) {
            if t.starts_with('{') && t.ends_with('}') && !s.is_empty() {
                continue;
            }
            if t != s {
                return None;
            }
            literal += 1;
        }
        Some(literal)
    };
    let method = method.to_ascii_lowercase();
    paths
        .iter()
        .filter(|(_, item)| item.get(&method).is_some())
        .filter_map(|(template, _)| Some((score(template)?, template)))
        .max_by_key(|(score, _)| *score)
        .map(|(_, template)| template.clone())
}

fn operation<'s>(spec: &'s Value, method: &str, path: &str) -> Option<&'s Value> {
    let template = template_of(spec, method, path)?;
    spec.get("paths")?
        .get(template)?
        .get(method.to_ascii_lowercase())
}

pub(super) fn operations(spec: &Value) -> Vec<(String, String)> {
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    paths
        .iter()
        .flat_map(|(template, item)| {
            let methods = item
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>());
            methods
                .unwrap_or_default()
                .into_iter()
                .map(move |m| (m.to_ascii_uppercase(), template.clone()))
        })
        .collect()
}

/// `a[b][]` → (`a`, [`b`, ``]); `None` if brackets are unbalanced.
fn split_key(key: &str) -> Option<(&str, Vec<&str>)> {
    let Some(open) = key.find('[') else {
        return Some((key, Vec::new()));
    };
    let (base, mut rest) = key.split_at(open);
    let mut subs = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        subs.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    Some((base, subs))
}

fn alternatives(schema: &Value) -> Vec<&Value> {
    match schema.get("anyOf").and_then(Value::as_array) {
        Some(options) => options.iter().collect(),
        None => vec![schema],
    }
}

/// Whether `value` at `subs` below `schema` is acceptable; `Err` says why not.
fn accepts(schema: &Value, subs: &[&str], value: &str) -> Result<(), String> {
    let mut last = String::from("no schema alternative");
    for alt in alternatives(schema) {
        match accepts_one(alt, subs, value) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn accepts_one(schema: &Value, subs: &[&str], value: &str) -> Result<(), String> {
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
    if let Some((first, rest)) = subs.split_first() {
        return match kind {
            "array" if first.is_empty() || first.parse::<u32>().is_ok() => {
                accepts(schema.get("items").unwrap_or(&Value::Null), rest, value)
            }
            "object" => {
                let props = schema.get("properties").and_then(Value::as_object);
                match (
                    props.and_then(|p| p.get(*first)),
                    schema.get("additionalProperties"),
                ) {
                    (Some(s), _) => accepts(s, rest, value),
                    (None, Some(Value::Bool(true))) => Ok(()),
                    (None, Some(extra @ Value::Object(_))) => accepts(extra, rest, value),
                    _ => Err(format!("unknown nested parameter [{first}]")),
                }
            }
            _ => Err(format!("[{first}] given but the parameter is a {kind}")),
        };
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.iter().any(|a| a.as_str() == Some(value)) {
            return Err(format!(
                "{value:?} is not one of {}",
                Value::Array(allowed.clone())
            ));
        }
    }
    match kind {
        "string" => {
            let max = schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX);
            if value.chars().count() as u64 > max {
                return Err(format!("longer than {max} characters"));
            }
            if schema.get("format").and_then(Value::as_str) == Some("decimal") {
                let d: Decimal = value
                    .parse()
                    .map_err(|_| format!("{value:?} is not a decimal"))?;
                if d.normalize().scale() > 12 {
                    return Err(format!("{value:?} has more than 12 decimal places"));
                }
            }
            Ok(())
        }
        "integer" => value
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| format!("{value:?} is not an integer")),
        "number" => value
            .parse::<f64>()
            .map(|_| ())
            .map_err(|_| format!("{value:?} is not a number")),
        "boolean" => match value {
            "true" | "false" => Ok(()),
            _ => Err(format!("{value:?} is not a boolean")),
        },
        "object" | "array" => Err(format!("a {kind} must be sent with nested keys")),
        _ => Ok(()),
    }
}

fn pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn check_pair(problems: &mut Vec<String>, key: &str, value: &str, schema: Option<&Value>) {
    let subs = split_key(key).map(|(_, subs)| subs);
    match (subs, schema) {
        (None, _) => problems.push(format!("malformed parameter name {key:?}")),
        (Some(_), None) => problems.push(format!("unknown parameter {key:?}")),
        (Some(subs), Some(schema)) => {
            if let Err(why) = accepts(schema, &subs, value) {
                problems.push(format!("parameter {key:?}: {why}"));
            }
        }
    }
}

pub(super) fn check_request(spec: &Value, request: &RecordedRequest) -> Vec<String> {
    let Some(op) = operation(spec, &request.method, &request.path) else {
        return vec!["no such operation in Stripe's OpenAPI description".to_owned()];
    };
    let mut problems = Vec::new();
    let empty = Map::new();
    let query_params: Vec<&Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                .collect()
        })
        .unwrap_or_default();
    let body_schema = op.pointer("/requestBody/schema").unwrap_or(&Value::Null);
    let body_props = body_schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let query_lookup = |name: &str| {
        query_params
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("schema"))
    };
    let query = pairs(&request.query);
    for (k, v) in &query {
        let schema = split_key(k).and_then(|(base, _)| query_lookup(base));
        check_pair(&mut problems, k, v, schema);
    }
    let body = pairs(&request.body);
    for (k, v) in &body {
        let schema = split_key(k).and_then(|(base, _)| body_props.get(base));
        check_pair(&mut problems, k, v, schema);
    }
    if !request.body.is_empty()
        && !request
            .content_type
            .as_deref()
            .unwrap_or_default()
            .starts_with("application/x-www-form-urlencoded")
    {
        problems.push(format!(
            "body sent as {:?}, not form-encoded",
            request.content_type
        ));
    }
    let sent = |name: &str, from: &[(String, String)]| {
        from.iter()
            .any(|(k, _)| split_key(k).is_some_and(|(b, _)| b == name))
    };
    for required in body_schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = required.as_str().unwrap_or_default();
        if !sent(name, &body) {
            problems.push(format!("required parameter {name:?} missing"));
        }
    }
    for p in &query_params {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        if p.get("required").and_then(Value::as_bool) == Some(true) && !sent(name, &query) {
            problems.push(format!("required query parameter {name:?} missing"));
        }
    }
    if request.method.eq_ignore_ascii_case("POST") {
        match request.idempotency_key.as_deref() {
            None => problems.push("POST without an Idempotency-Key (our policy)".to_owned()),
            Some(k) if k.is_empty() || k.len() > 255 => {
                problems.push("Idempotency-Key must be 1 to 255 characters".to_owned())
            }
            Some(_) => {}
        }
    }
    if request.stripe_version.is_none() {
        problems
            .push("request without a Stripe-Version (our policy: pin the API version)".to_owned());
    }
    problems
}
