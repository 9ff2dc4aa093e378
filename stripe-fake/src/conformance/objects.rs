//! Response objects against Stripe's example objects of the current API version
//! (`openapi/stripe-fixtures.json`, copied from Stripe's `fixtures3.json`). The OpenAPI
//! description's response schemas predate API version 2025-03-31, so shapes are taken
//! from the fixtures; error bodies are still checked against the description.

use serde_json::{Map, Value};

/// Fields whose keys are the caller's (free-form maps), never compared.
const FREE_FORM: &[&str] = &["metadata"];

/// Fields typed `api_errors` in Stripe's description, whose example object shows only
/// `type`: checked against the description's `api_errors` instead.
const API_ERRORS: &[&str] = &["last_payment_error", "last_finalization_error"];

/// Fields Stripe renders only when the request expands them (*includable*): allowed on
/// top of the example's fields, and checked as the list of objects they are.
const INCLUDABLE: &[(&str, &str)] = &[("invoice", "payments")];

/// Sub-objects whose example shows only the discriminator: the fields each variant
/// adds (by `type`), allowed on top of it.
const VARIANTS: &[(&str, &[&str])] = &[(
    "invoice_payment.payment",
    &["payment_intent", "charge", "payment_record"],
)];

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
    let mut value = value.clone();
    for (object, field) in INCLUDABLE {
        if *object == fixture_name {
            if let Some(included) = value.as_object_mut().and_then(|o| o.remove(*field)) {
                if !included.is_null() {
                    problems.extend(check_object(spec, fixtures, &included));
                }
            }
        }
    }
    same_fields(spec, &fixture_name, fixture, &value, &mut problems);
    if fixture_name == "invoice" {
        if let Some(lines) = value.get("lines") {
            problems.extend(check_object(spec, fixtures, lines));
        }
    }
    problems
}

/// Every field of the example is present and no other, recursively where both sides
/// hold an object (a `null` where the example shows an object is a nullable field).
fn same_fields(
    spec: &Value,
    path: &str,
    fixture: &Value,
    value: &Value,
    problems: &mut Vec<String>,
) {
    let (Some(want), Some(have)) = (fixture.as_object(), value.as_object()) else {
        if value.is_object() || fixture.is_null() {
            return;
        }
        problems.push(format!("{path} is not an object"));
        return;
    };
    compare(spec, path, want, have, problems);
}

fn compare(
    spec: &Value,
    path: &str,
    want: &Map<String, Value>,
    have: &Map<String, Value>,
    out: &mut Vec<String>,
) {
    let variant_fields = VARIANTS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, fields)| *fields)
        .unwrap_or_default();
    for key in have
        .keys()
        .filter(|k| !want.contains_key(*k) && !variant_fields.contains(&k.as_str()))
    {
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
        if API_ERRORS.contains(&key.as_str()) {
            if !ours.is_null() {
                out.extend(
                    check_error(spec, ours)
                        .into_iter()
                        .map(|p| format!("{path}.{key}: {p}")),
                );
            }
            continue;
        }
        if let (Some(w), Some(h)) = (example.as_object(), ours.as_object()) {
            compare(spec, &format!("{path}.{key}"), w, h, out);
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
