//! Stripe's idempotency rules as the client sees them through the fake.

mod stripe_support;

use std::time::Duration;

use stripe_fake::{FakeConfig, Fault};
use stripe_support::{harness, harness_with, key};
use sync::stripe::{CreateInvoice, ErrorClass, ListInvoices};

#[tokio::test]
async fn the_same_key_and_parameters_replay_the_first_response() {
    let h = harness().await;
    let customer = h.customer().await;
    let params = CreateInvoice::for_customer(&customer.id);
    let first = h
        .client
        .create_invoice(&params, &key("inv-a"))
        .await
        .unwrap();
    let second = h
        .client
        .create_invoice(&params, &key("inv-a"))
        .await
        .unwrap();
    assert_eq!(first.id, second.id);
    let listed = h
        .client
        .list_invoices(&ListInvoices::default())
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);
    let posts: Vec<_> = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(
        posts.iter().all(|r| r.idempotency_key.is_some()),
        "every POST carries a key"
    );
    h.finish().await;
}

#[tokio::test]
async fn the_same_key_with_other_parameters_is_a_permanent_idempotency_error() {
    let h = harness().await;
    let customer = h.customer().await;
    let mut params = CreateInvoice::for_customer(&customer.id);
    h.client
        .create_invoice(&params, &key("inv-b"))
        .await
        .unwrap();
    params.description = Some("different".into());
    let err = h
        .client
        .create_invoice(&params, &key("inv-b"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        err.api_error().map(|e| e.kind.as_str()),
        Some("idempotency_error")
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    h.finish().await;
}

#[tokio::test]
async fn the_same_key_while_the_first_is_in_flight_is_a_retryable_conflict() {
    let h = harness().await;
    let customer = h.customer().await;
    h.fake
        .inject(Fault::latency(Duration::from_millis(800)).on("POST", "/v1/invoices"));
    let params = CreateInvoice::for_customer(&customer.id);
    let slow = {
        let (client, params) = (h.client.clone(), params.clone());
        tokio::spawn(async move { client.create_invoice(&params, &key("inv-c")).await })
    };
    let sent_before = h.fake.requests().len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.fake.requests().len() == sent_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = h
        .client
        .create_invoice(&params, &key("inv-c"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("idempotency_key_in_use"))
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
    let first = slow.await.unwrap().unwrap();
    let retried = h
        .client
        .create_invoice(&params, &key("inv-c"))
        .await
        .unwrap();
    assert_eq!(first.id, retried.id);
    h.finish().await;
}

#[tokio::test]
async fn after_the_window_the_same_key_creates_anew() {
    let window = Duration::from_millis(200);
    let config = FakeConfig {
        idempotency_window: window,
        ..FakeConfig::default()
    };
    let h = harness_with(config, Duration::from_secs(5)).await;
    let customer = h.customer().await;
    let params = CreateInvoice::for_customer(&customer.id);
    let first = h
        .client
        .create_invoice(&params, &key("inv-d"))
        .await
        .unwrap();
    tokio::time::sleep(window + Duration::from_millis(50)).await;
    let second = h
        .client
        .create_invoice(&params, &key("inv-d"))
        .await
        .unwrap();
    assert_ne!(first.id, second.id, "an expired key is a new request");
    h.finish().await;
}
