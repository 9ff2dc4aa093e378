//! Response objects against Stripe's object schemas.

use serde_json::Value;

pub(super) fn check_object(spec: &Value, value: &Value) -> Vec<String> {
    let kind = value.get("object").and_then(Value::as_str);
    let schema_name = match (kind, value.get("error")) {
        (_, Some(error)) => return check_fields(spec, "api_errors", error),
        (Some("list" | "search_result"), _) => {
            let items = value.get("data").and_then(Value::as_array);
            return items
                .into_iter()
                .flatten()
                .flat_map(|v| check_object(spec, v))
                .collect();
        }
        (Some(k), _) => k,
        (None, _) => return vec!["no \"object\" field".to_owned()],
    };
    let mut problems = check_fields(spec, schema_name, value);
    if schema_name == "invoice" {
        if let Some(lines) = value.get("lines") {
            problems.extend(check_object(spec, lines));
        }
    }
    problems
}

fn check_fields(spec: &Value, schema_name: &str, value: &Value) -> Vec<String> {
    let Some(schema) = spec.pointer(&format!("/components/schemas/{schema_name}")) else {
        return vec![format!("no schema for {schema_name:?} in the extract")];
    };
    let Some(fields) = value.as_object() else {
        return vec![format!("{schema_name} is not an object")];
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let mut problems: Vec<String> = fields
        .keys()
        .filter(|k| !props.is_some_and(|p| p.contains_key(k.as_str())))
        .map(|k| format!("{schema_name} has field {k:?}, which Stripe does not define"))
        .collect();
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = required.as_str().unwrap_or_default();
        if !fields.contains_key(name) {
            problems.push(format!("{schema_name} lacks required field {name:?}"));
        }
    }
    problems
}
