//! What operators see of a Stripe outage: while the sync's circuit breaker
//! is open, `GET /v1/ops/sync` says "Stripe unavailable since …" and
//! `/metrics` reports `billing_stripe_available 0`; once Stripe answers
//! again both say so. The API runs in the process that runs the sync, as
//! `billing serve` does. On both backends.

use std::sync::Arc;
use std::time::Duration;

use api::http::{ApiConfig, Application};
use api::pipeline::{Pipeline, PipelineArgs};
use api::tokens::{self, Role};
use chrono::Utc;
use secrecy::SecretString;
use serde_json::Value;
use stripe_fake::{FakeConfig, Fault};
use sync::breaker::BreakerConfig;
use sync::stripe::{StripeClient, StripeConfig};
use sync::SyncOptions;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

async fn outage_is_reported(db: testkit::TestDb) {
    let fake = stripe_fake::spawn("127.0.0.1:0".parse().unwrap(), FakeConfig::default())
        .await
        .unwrap();
    let mut stripe = StripeConfig::new(fake.base_url(), SecretString::from("sk_test_health"));
    stripe.request_timeout = Duration::from_secs(2);
    let api = Arc::new(StripeClient::new(&stripe).unwrap());
    let store = db.store();
    let now = Utc::now();
    testkit::seed::seed(
        store.as_ref(),
        "down",
        6,
        3,
        testkit::seed::past_anchor(now),
    )
    .await
    .unwrap();
    let args = PipelineArgs {
        close_grace_minutes: 0,
        sync: SyncOptions {
            rate_limit: 1_000.0,
            draft_cadence: Duration::ZERO,
            poll: Duration::from_millis(20),
            backoff_base: Duration::from_millis(5),
            backoff_cap: Duration::from_millis(50),
            breaker: BreakerConfig {
                failures: 3,
                window: Duration::from_secs(30),
                probe_interval: Duration::from_millis(300),
            },
            ..SyncOptions::default()
        },
        ..PipelineArgs::default()
    };
    // Close the ended period first, with Stripe up but nothing published yet.
    Pipeline::new(&db.db, &args, None)
        .run_until_idle(now)
        .await
        .unwrap();
    fake.inject(Fault::server_error().times(u32::MAX));
    let pipeline = Pipeline::new(&db.db, &args, Some(api));
    let breaker = pipeline.stripe_breaker();
    assert!(breaker.is_some(), "the pipeline runs the sync");
    let app = Application::build_with(
        db.db.clone(),
        ApiConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..ApiConfig::default()
        },
        breaker,
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run(stop.clone()));
    let running = tokio::spawn(pipeline.run(stop.clone()));
    let (admin, _) = tokens::create(&db.db, "ops", Role::Admin, None)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let sync_status = || async {
        let body: Value = client
            .get(format!("{base}/v1/ops/sync"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["stripe"].clone()
    };
    let metrics = || async {
        client
            .get(format!("{base}/metrics"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };

    let deadline = Instant::now() + Duration::from_secs(30);
    let down = loop {
        let stripe = sync_status().await;
        if stripe["available"] == false {
            break stripe;
        }
        assert!(
            Instant::now() < deadline,
            "the outage never showed: {stripe}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let message = down["message"].as_str().unwrap();
    assert!(message.starts_with("Stripe unavailable since "), "{down}");
    assert!(down["unavailable_since"].is_string(), "{down}");
    let text = metrics().await;
    assert!(text.contains("billing_stripe_available 0"), "{text}");
    assert!(
        !text.contains("billing_stripe_unavailable_since_seconds 0\n"),
        "{text}"
    );

    fake.clear_faults();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stripe = sync_status().await;
        if stripe["available"] == true {
            assert_eq!(stripe["message"], "Stripe available", "{stripe}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Stripe never came back: {stripe}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metrics().await.contains("billing_stripe_available 1"));
    stop.cancel();
    running.await.unwrap();
    server.await.unwrap().unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_an_outage_shows_in_ops_and_metrics_until_stripe_answers() {
    outage_is_reported(testkit::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_an_outage_shows_in_ops_and_metrics_until_stripe_answers() {
    outage_is_reported(testkit::sqlite().await).await;
}

#[tokio::test]
async fn without_the_sync_in_this_process_the_api_says_nothing_of_stripe() {
    let db = testkit::sqlite().await;
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
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run(stop.clone()));
    let (admin, _) = tokens::create(&db.db, "ops", Role::Admin, None)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let body: Value = client
        .get(format!("{base}/v1/ops/sync"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["stripe"].is_null(), "{body}");
    let text = client
        .get(format!("{base}/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("billing_stripe_available"), "{text}");
    stop.cancel();
    server.await.unwrap().unwrap();
}
