//! End to end: usage over HTTP, the invoice finalized and synced to the
//! Stripe fake, the fake collects it and sends a signed webhook, and the
//! invoice read says paid.

use std::sync::Arc;
use std::time::Duration;

use api::http::{ApiConfig, Application};
use api::pipeline::{Pipeline, PipelineArgs};
use api::tokens::{self, Role};
use chrono::Utc;
use secrecy::SecretString;
use serde_json::{json, Value};
use sync::payments::signature::{Verifier, DEFAULT_TOLERANCE};
use sync::stripe::{StripeClient, StripeConfig, StripeSetup};

/// A port free right now (the API binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn stripe_form(fake: &stripe_fake::FakeHandle, path: &str, form: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth("sk_test_e2e")
        .header("Stripe-Version", stripe_fake::API_VERSION)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Idempotency-Key", format!("e2e-{path}"))
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn usage_ends_as_an_invoice_paid_through_a_signed_webhook(db: testkit::TestDb) {
    let fake = stripe_fake::spawn(
        "127.0.0.1:0".parse().unwrap(),
        stripe_fake::FakeConfig::default(),
    )
    .await
    .unwrap();
    let port = free_port();
    let endpoint = stripe_form(
        &fake,
        "/v1/webhook_endpoints",
        &format!(
            "url=http%3A%2F%2F127.0.0.1%3A{port}%2Fv1%2Fwebhooks%2Fstripe&enabled_events[]=invoice.paid&enabled_events[]=invoice.finalized"
        ),
    )
    .await;
    let secret = SecretString::from(endpoint["secret"].as_str().unwrap().to_owned());
    let app = Application::build(
        db.db.clone(),
        ApiConfig {
            bind: format!("127.0.0.1:{port}").parse().unwrap(),
            stripe_webhook: Verifier::from_list(&secret, DEFAULT_TOLERANCE),
            ..ApiConfig::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    let (admin, _) = tokens::create(&db.db, "e2e", Role::Admin, None)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let get = |path: String| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(&admin)
            .send()
    };
    assert!(post(
        "/v1/organizations",
        json!({"org_id": "acme", "name": "Acme", "currency": "USD"})
    )
    .await
    .unwrap()
    .status()
    .is_success());
    let effective = (Utc::now() - chrono::Duration::minutes(4)).to_rfc3339();
    let price = json!({"price_id": "cpu", "meter": "cpu_seconds", "currency": "USD", "unit": "second",
        "description": "CPU", "spec": {"model": {"type": "per_unit", "unit_price": "0.01"}},
        "effective_from": effective});
    assert!(post("/v1/prices", price)
        .await
        .unwrap()
        .status()
        .is_success());
    let at = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let ingested: Value = post(
        "/v1/usage",
        json!({"records": [{"org_id": "acme", "meter": "cpu_seconds", "quantity": "1234",
                             "occurred_at": at, "idempotency_key": "e2e-1"}]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(ingested["accepted"], 1, "{ingested}");

    // Fold, close the period as if it had ended, publish and finalize in Stripe.
    let ledger_only = Pipeline::new(&db.db, &PipelineArgs::default(), None);
    ledger_only.run_until_idle(Utc::now()).await.unwrap();
    let tables = projections::tables_for(&db.db);
    let invoice = tables
        .org_invoices(&ledger::OrgId::new("acme").unwrap())
        .await
        .unwrap()
        .remove(0);
    let later = invoice.period_end + chrono::Duration::hours(2);
    ledger_only.run_until_idle(later).await.unwrap();
    let config = match StripeConfig::from_lookup(|name| match name {
        "STRIPE_API_KEY" => Some("sk_test_e2e".to_owned()),
        "STRIPE_API_BASE" => Some(fake.base_url()),
        _ => None,
    })
    .unwrap()
    {
        StripeSetup::Enabled(config) => config,
        StripeSetup::Disabled { reason } => panic!("{reason}"),
    };
    let stripe = Arc::new(StripeClient::new(&config).unwrap());
    let with_sync = PipelineArgs {
        sync: sync::SyncOptions {
            draft_cadence: Duration::ZERO,
            ..sync::SyncOptions::default()
        },
        ..PipelineArgs::default()
    };
    Pipeline::new(&db.db, &with_sync, Some(stripe.clone()))
        .run_until_idle(later)
        .await
        .unwrap();
    let status = sync::status::invoice_sync_status(&db.db, &invoice.org_id, invoice.period_start)
        .await
        .unwrap()
        .unwrap();
    let stripe_id = status.stripe_invoice_id.clone().unwrap();
    let path = format!(
        "/v1/organizations/acme/invoices/{}",
        invoice.period_start.format("%Y-%m-%d")
    );
    let before: Value = get(path.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(before["invoice"]["payment_status"], "unpaid", "{before}");
    let org: Value = get("/v1/organizations/acme".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["balance_due"]["amount"], "12.34", "{org}");

    // Stripe collects; its signed webhook comes back to the API.
    let paid = stripe_form(&fake, &format!("/v1/invoices/{stripe_id}/pay"), "").await;
    assert_eq!(paid["status"], "paid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let read = loop {
        ledger_only.run_until_idle(later).await.unwrap();
        let read: Value = get(path.clone()).await.unwrap().json().await.unwrap();
        if read["invoice"]["payment_status"] == "paid" {
            break read;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhook never made the invoice paid: {read}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(read["invoice"]["status"], "paid");
    assert!(read["invoice"]["paid_at"].is_string(), "{read}");
    let org: Value = get("/v1/organizations/acme".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["balance_due"]["invoices"], 0, "{org}");
    let report = sync::reconcile::reconcile(&db.db, stripe.as_ref())
        .await
        .unwrap();
    assert!(
        report.differences.is_empty(),
        "{}",
        sync::reconcile::render_table(&report)
    );
    stripe_fake::conformance::check_all(&fake.requests())
        .expect("every request is valid for Stripe");
    fake.shutdown().await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_usage_ends_as_an_invoice_paid_through_a_signed_webhook() {
    usage_ends_as_an_invoice_paid_through_a_signed_webhook(testkit::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_usage_ends_as_an_invoice_paid_through_a_signed_webhook() {
    usage_ends_as_an_invoice_paid_through_a_signed_webhook(testkit::sqlite().await).await;
}
