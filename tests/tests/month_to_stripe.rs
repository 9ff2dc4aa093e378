//! One organization's month, end to end: usage and a charge in over HTTP,
//! the invoice projected and closed, published and finalized in Stripe,
//! with Stripe's total equal to the ledger's to the cent.

use std::sync::Arc;
use std::time::Duration;

use api::http::{ApiConfig, Application};
use api::pipeline::{Pipeline, PipelineArgs};
use api::tokens::{self, Role};
use chrono::Utc;
use serde_json::{json, Value};
use sync::stripe::{StripeClient, StripeConfig, StripeSetup};

async fn month_ends_as_a_finalized_stripe_invoice_equal_to_the_ledger(db: testkit::TestDb) {
    let app = Application::build(
        db.db.clone(),
        ApiConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
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

    assert!(post(
        "/v1/organizations",
        json!({"org_id": "acme", "name": "Acme", "currency": "USD"})
    )
    .await
    .unwrap()
    .status()
    .is_success());
    let effective = (Utc::now() - chrono::Duration::minutes(4)).to_rfc3339();
    let price = json!({"price_id": "egress", "meter": "egress_gb", "currency": "USD", "unit": "GB", "description": "Egress",
        "spec": {"model": {"type": "graduated", "tiers": [{"up_to": "100", "unit_price": "0.09"}, {"up_to": null, "unit_price": "0.025"}]},
                 "free_allowance": "10"},
        "effective_from": effective});
    assert!(post("/v1/prices", price)
        .await
        .unwrap()
        .status()
        .is_success());
    let at = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let records: Vec<Value> = (0..40)
        .map(|i| json!({"org_id": "acme", "meter": "egress_gb", "quantity": format!("{}.333", i), "occurred_at": at, "idempotency_key": format!("e2e-{i}")}))
        .collect();
    let ingested: Value = post("/v1/usage", json!({"records": records}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ingested["accepted"], 40, "{ingested}");
    assert!(post(
        "/v1/organizations/acme/charges",
        json!({"id": "ip", "description": "Dedicated IPv4", "amount": "2.00"})
    )
    .await
    .unwrap()
    .status()
    .is_success());

    // The pipeline folds, then closes the period as if its end (plus the
    // hour of grace) had passed.
    let ledger_only = Pipeline::new(&db.db, &PipelineArgs::default(), None);
    ledger_only.run_until_idle(Utc::now()).await.unwrap();
    let tables = projections::tables_for(&db.db);
    let invoice = tables
        .org_invoices(&ledger::OrgId::new("acme").unwrap())
        .await
        .unwrap()
        .remove(0);
    let later = invoice.period_end + chrono::Duration::hours(2);
    let settled = ledger_only.run_until_idle(later).await.unwrap();
    assert_eq!(settled.closed.finalized.len(), 1);
    let ledger_invoice = tables
        .invoice(&invoice.org_id, invoice.period_start)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ledger_invoice.status,
        projections::fold::InvoiceStatus::Finalized
    );

    let fake = stripe_fake::spawn(
        "127.0.0.1:0".parse().unwrap(),
        stripe_fake::FakeConfig::default(),
    )
    .await
    .unwrap();
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
    assert!(status.terminal_done, "finalized in Stripe: {status:?}");
    let stripe_invoice = stripe
        .retrieve_invoice(status.stripe_invoice_id.as_deref().unwrap())
        .await
        .unwrap();
    let ledger_cents = ledger_invoice
        .currency
        .to_minor_units(ledger_invoice.total)
        .unwrap();
    assert_eq!(
        stripe_invoice.total, ledger_cents,
        "Stripe's total equals the ledger's to the cent"
    );
    assert!(ledger_cents > 200, "usage and the charge are billed");
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
async fn on_postgres_a_month_ends_as_a_finalized_stripe_invoice_equal_to_the_ledger() {
    month_ends_as_a_finalized_stripe_invoice_equal_to_the_ledger(testkit::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_a_month_ends_as_a_finalized_stripe_invoice_equal_to_the_ledger() {
    month_ends_as_a_finalized_stripe_invoice_equal_to_the_ledger(testkit::sqlite().await).await;
}
