//! Checks requests (and response objects) against the committed extract of Stripe's
//! OpenAPI description, `openapi/stripe-subset.json` (see `scripts/extract_stripe_openapi.py`).
//!
//! For each request: the operation (method and path template) exists; every query and
//! form parameter — including nested ones such as `metadata[key]`, `period[start]` and
//! `expand[]` — is one the operation accepts, with a value of the right type, within
//! `maxLength`, and in the `enum` if there is one; required parameters are present; a
//! body is form-encoded. Our own policy is checked too: every `POST` carries an
//! `Idempotency-Key` of at most 255 characters, and every request pins the API version
//! with `Stripe-Version`.
//!
//! Response objects are checked against Stripe's example objects of the current API
//! version (`openapi/stripe-fixtures.json`, from Stripe's `fixtures3.json`; see
//! `scripts/extract_stripe_fixtures.py`), never against the description's response
//! schemas, which predate API version 2025-03-31.

mod objects;
mod schema;

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use crate::RecordedRequest;

const EXTRACT: &str = include_str!("../../openapi/stripe-subset.json");
const FIXTURES: &str = include_str!("../../openapi/stripe-fixtures.json");

/// One way a request (or object) departs from Stripe's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `METHOD /path` of the request, or the object's id.
    pub request: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.request, self.problem)
    }
}

fn spec() -> Result<&'static Value, String> {
    static SPEC: OnceLock<Result<Value, String>> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(EXTRACT).map_err(|e| format!("unreadable OpenAPI extract: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn fixtures() -> Result<&'static Value, String> {
    static FIXTURES_JSON: OnceLock<Result<Value, String>> = OnceLock::new();
    FIXTURES_JSON
        .get_or_init(|| {
            serde_json::from_str(FIXTURES).map_err(|e| format!("unreadable fixtures: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Stripe's example objects of the current API version that the fake renders
/// (`customer`, `invoice`, `invoiceitem`, `line_item`, `deleted_*`), as committed in
/// `openapi/stripe-fixtures.json`: `{"x-origin": …, "resources": {name: object}}`.
pub fn fixture_objects() -> Option<&'static Value> {
    fixtures().ok()
}

/// Every `(METHOD, path template)` in the extract, e.g. `("POST", "/v1/invoices/{invoice}/finalize")`.
pub fn operations() -> Vec<(String, String)> {
    spec().map(schema::operations).unwrap_or_default()
}

/// The `(METHOD, path template)` of a request, if it names an operation in the extract.
pub fn operation_of(request: &RecordedRequest) -> Option<(String, String)> {
    let spec = spec().ok()?;
    schema::template_of(spec, &request.method, &request.path)
        .map(|template| (request.method.to_ascii_uppercase(), template))
}

/// Checks every request; `Err` lists every violation found.
pub fn check_all(requests: &[RecordedRequest]) -> Result<(), Vec<Violation>> {
    let violations: Vec<Violation> = requests.iter().flat_map(check).collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

/// The violations of one request (empty when it conforms).
pub fn check(request: &RecordedRequest) -> Vec<Violation> {
    let name = format!("{} {}", request.method, request.path);
    let problems = match spec() {
        Ok(spec) => schema::check_request(spec, request),
        Err(e) => vec![e],
    };
    problems
        .into_iter()
        .map(|problem| Violation {
            request: name.clone(),
            problem,
        })
        .collect()
}

/// Checks a JSON object (customer, invoice, invoiceitem, line_item, a deleted one, a
/// list of them, or an error body) against Stripe's example object of the current API
/// version: exactly the example's fields, recursively into nested objects (metadata
/// excepted); lists are checked item by item, an invoice's embedded lines too. Error
/// bodies are checked against the OpenAPI description's `api_errors`.
pub fn check_object(value: &Value) -> Vec<Violation> {
    let name = value
        .get("id")
        .or_else(|| value.get("object"))
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_owned();
    let problems = match (spec(), fixtures()) {
        (Ok(spec), Ok(fixtures)) => objects::check_object(spec, fixtures, value),
        (Err(e), _) | (_, Err(e)) => vec![e],
    };
    problems
        .into_iter()
        .map(|problem| Violation {
            request: name.clone(),
            problem,
        })
        .collect()
}
