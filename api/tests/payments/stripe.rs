//! The app with webhook secrets, and Stripe's side: signed deliveries.

use api::http::ApiConfig;
use chrono::{DateTime, Utc};
use ledger::event::{InvoiceFinalized, InvoiceKey};
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use sync::payments::signature::{sign, Verifier, DEFAULT_TOLERANCE};

use super::app::{spawn_app_with, usage, TestApp};

pub const SECRET: &str = "whsec_test_current";
pub const OLD_SECRET: &str = "whsec_test_previous";

pub async fn spawn(db: testkit::TestDb) -> TestApp {
    let list = SecretString::from(format!("{SECRET},{OLD_SECRET}"));
    let config = ApiConfig {
        stripe_webhook: Verifier::from_list(&list, DEFAULT_TOLERANCE),
        ..ApiConfig::default()
    };
    spawn_app_with(db, config).await
}

/// POST a raw body with a `Stripe-Signature` header (or none).
pub async fn deliver(app: &TestApp, body: &str, signature: Option<String>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(format!("{}/v1/webhooks/stripe", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("Stripe-Signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(json!({"raw": text})),
    )
}

/// Deliver `event` signed with the current secret, now; expects 200.
pub async fn signed(app: &TestApp, event: &Value) -> Value {
    let body = event.to_string();
    let header = sign(SECRET, Utc::now().timestamp(), body.as_bytes());
    let (status, ack) = deliver(app, &body, Some(header)).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    ack
}

/// A Stripe invoice event for our invoice `(org, period_start)`.
pub fn invoice_event(
    id: &str,
    kind: &str,
    created: i64,
    org: &str,
    period_start: DateTime<Utc>,
    extra: Value,
) -> Value {
    let period = ledger::db::format_timestamp(period_start);
    let mut object = json!({
        "id": format!("in_{org}"),
        "object": "invoice",
        "status": "open",
        "metadata": {
            "ledger_invoice": format!("{org}/{period}"),
            "ledger_org_id": org,
            "ledger_period_start": period,
        },
    });
    if let (Some(o), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    json!({"id": id, "object": "event", "type": kind, "created": created,
           "livemode": false, "pending_webhooks": 1, "data": {"object": object}})
}

/// Register `org`, bill it 100 CPU-seconds (1.00 USD) and finalize that
/// invoice (as the closer would); returns its period start.
pub async fn finalized_invoice(app: &TestApp, org: &str) -> DateTime<Utc> {
    app.platform(org).await;
    let at = (Utc::now() - chrono::Duration::seconds(30)).to_rfc3339();
    let (status, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage(org, json!("100"), &format!("{org}-u1"), &at)]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let position = body["position"].as_i64().unwrap();
    let (status, current) = app
        .get(
            &format!("/v1/organizations/{org}/invoices/current?min_position={position}"),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{current}");
    let start: DateTime<Utc> = current["invoice"]["period_start"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: DateTime<Utc> = current["invoice"]["period_end"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let key = InvoiceKey {
        org_id: OrgId::new(org).unwrap(),
        period_start: start,
    };
    let event = LedgerEvent::InvoiceFinalized(InvoiceFinalized {
        invoice: key.clone(),
        period_end: end,
    });
    let new = NewEvent::from_domain(&event, Utc::now()).unwrap();
    let outcome = app
        .db
        .store()
        .append(&key.stream(), ExpectedVersion::Any, vec![new])
        .await
        .unwrap();
    let position = outcome.results[0].global_position();
    let invoice = invoice_at(app, org, start, position).await;
    assert_eq!(invoice["status"], "finalized", "{invoice}");
    start
}

pub fn period_path(org: &str, start: DateTime<Utc>) -> String {
    format!(
        "/v1/organizations/{org}/invoices/{}",
        start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

async fn invoice_at(app: &TestApp, org: &str, start: DateTime<Utc>, position: i64) -> Value {
    let (status, read) = app
        .get(
            &format!("{}?min_position={position}", period_path(org, start)),
            &app.support,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    read["invoice"].clone()
}

/// The invoice once everything stored so far is folded.
pub async fn invoice_now(app: &TestApp, org: &str, start: DateTime<Utc>) -> Value {
    let head = app.db.store().head_position().await.unwrap();
    invoice_at(app, org, start, head).await
}

/// The organization read once everything stored so far is folded.
pub async fn org_now(app: &TestApp, org: &str) -> Value {
    let head = app.db.store().head_position().await.unwrap();
    // Fold everything, then read the organization.
    let _ = app
        .get(
            &format!("/v1/organizations/{org}/invoices?min_position={head}"),
            &app.support,
        )
        .await;
    let (status, body) = app
        .get(&format!("/v1/organizations/{org}"), &app.support)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}
