//! Response objects against Stripe's example objects of the current API version
//! (`openapi/stripe-fixtures.json`, copied from Stripe's `fixtures3.json`). The OpenAPI
//! description's response schemas predate API version 2025-03-31, so shapes are taken
//! from the fixtures; error bodies are still checked against the description.

use serde_json::{Map, Value};

/// Fields whose keys are the caller's (free-form maps), never compared.
const FREE_FORM: &[&str] = &["metadata"];

pub(super) fn check_object(spec: &Value, fixtures: &Value, value: &Value) -> Vec<String> {
    let kind = value.get("object").and_then(Value::as_str);
    let fixture_name = match (kind, value.get("error")) {
        (_, Some(error)) => return check_error(spec, error),
        (Some("list" | "search_result"), _) => {
            let items = value.get("data").and_then(Value::as_array);
            return items
                .into_iter()
                .flatten()
                .flat_map(|v| check_object(spec, fixtures, v))
                .collect();
        }
        (Some(k), _) if value.get("deleted") == Some(&Value::Bool(true)) => format!("deleted_{k}"),
        (Some(k), _) => k.to_owned(),
        (None, _) => return vec!["no \"object\" field".to_owned()],
    };
    let Some(fixture) = fixtures.pointer(&format!("/resources/{fixture_name}")) else {
        return vec![format!(
            "no example object {fixture_name:?} in the fixtures"
        )];
    };
    let mut problems = Vec::new();
    same_fields(&fixture_name, fixture, value, &mut problems);
    if fixture_name == "invoice" {
        if let Some(lines) = value.get("lines") {
            problems.extend(check_object(spec, fixtures, lines));
        }
    }
    problems
}

/// Every field of the example is present and no other, recursively where both sides
/// hold an object (a `null` where the example shows an object is a nullable field).
fn same_fields(path: &str, fixture: &Value, value: &Value, problems: &mut Vec<String>) {
    let (Some(want), Some(have)) = (fixture.as_object(), value.as_object()) else {
        if value.is_object() || fixture.is_null() {
            return;
        }
        problems.push(format!("{path} is not an object"));
        return;
    };
    compare(path, want, have, problems);
}

fn compare(
    path: &str,
    want: &Map<String, Value>,
    have: &Map<String, Value>,
    out: &mut Vec<String>,
) {
    for key in have.keys().filter(|k| !want.contains_key(*k)) {
        out.push(format!(
            "{path} has field {key:?}, which the current API version does not have"
        ));
    }
    for (key, example) in want {
        let Some(ours) = have.get(key) else {
            out.push(format!("{path} lacks field {key:?}"));
            continue;
        };
        if FREE_FORM.contains(&key.as_str()) {
            continue;
        }
        if let (Some(w), Some(h)) = (example.as_object(), ours.as_object()) {
            compare(&format!("{path}.{key}"), w, h, out);
        }
    }
}

fn check_error(spec: &Value, error: &Value) -> Vec<String> {
    let Some(schema) = spec.pointer("/components/schemas/api_errors") else {
        return vec!["no schema for \"api_errors\" in the extract".to_owned()];
    };
    let Some(fields) = error.as_object() else {
        return vec!["api_errors is not an object".to_owned()];
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let mut problems: Vec<String> = fields
        .keys()
        .filter(|k| !props.is_some_and(|p| p.contains_key(k.as_str())))
        .map(|k| format!("api_errors has field {k:?}, which Stripe does not define"))
        .collect();
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = required.as_str().unwrap_or_default();
        if !fields.contains_key(name) {
            problems.push(format!("api_errors lacks required field {name:?}"));
        }
    }
    problems
}
