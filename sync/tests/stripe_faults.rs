//! Every injected fault maps to the right error class.

mod stripe_support;

use std::time::Duration;

use stripe_fake::{FakeConfig, Fault};
use stripe_support::{fresh_key, harness, harness_with, key};
use sync::stripe::{CreateInvoice, ErrorClass, ListInvoices, StripeError};

#[tokio::test]
async fn a_rate_limit_is_retryable_and_says_when() {
    let h = harness().await;
    let customer = h.customer().await;
    h.fake
        .inject(Fault::rate_limit(Duration::from_secs(3)).on("POST", "/v1/invoices"));
    let err = h
        .client
        .create_invoice(&CreateInvoice::for_customer(&customer.id), &fresh_key())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(429), Some("rate_limit")));
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    // The fault was used up: the next call goes through.
    h.draft(&customer).await;
    h.finish().await;
}

#[tokio::test]
async fn a_lock_timeout_is_retryable_with_its_code() {
    let h = harness().await;
    let customer = h.customer().await;
    let draft = h.draft(&customer).await;
    h.fake
        .inject(Fault::lock_timeout(Duration::from_secs(1)).on("POST", "/v1/invoices/*/finalize"));
    let err = h
        .client
        .finalize_invoice(&draft.id, &fresh_key())
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(429), Some("lock_timeout"))
    );
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    h.finish().await;
}

#[tokio::test]
async fn server_errors_are_retryable_for_the_next_n_matching_requests() {
    let h = harness().await;
    h.fake
        .inject(Fault::server_error().on("GET", "/v1/invoices").times(2));
    for _ in 0..2 {
        let err = h
            .client
            .list_invoices(&ListInvoices::default())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(500));
        assert_eq!(err.api_error().map(|e| e.kind.as_str()), Some("api_error"));
        assert_eq!(err.class(), ErrorClass::Retryable);
    }
    assert!(h
        .client
        .list_invoices(&ListInvoices::default())
        .await
        .is_ok());
    h.finish().await;
}

#[tokio::test]
async fn stripe_should_retry_overrides_the_status() {
    let h = harness().await;
    h.fake.inject(Fault::server_error().should_retry(false));
    let err = h
        .client
        .list_invoices(&ListInvoices::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.class()),
        (Some(500), ErrorClass::Permanent)
    );
    h.fake
        .inject(Fault::rate_limit(Duration::from_secs(1)).should_retry(true));
    let err = h
        .client
        .list_invoices(&ListInvoices::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    h.finish().await;
}

#[tokio::test]
async fn latency_beyond_the_client_timeout_is_a_retryable_timeout() {
    let h = harness_with(FakeConfig::default(), Duration::from_millis(300)).await;
    h.fake
        .inject(Fault::latency(Duration::from_secs(2)).on("GET", "/v1/invoices"));
    let err = h
        .client
        .list_invoices(&ListInvoices::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Timeout(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Retryable);
    h.finish().await;
}

#[tokio::test]
async fn commit_then_drop_loses_the_answer_but_keeps_the_effect_for_a_replay() {
    let h = harness().await;
    let customer = h.customer().await;
    h.fake
        .inject(Fault::commit_then_drop().on("POST", "/v1/invoices"));
    let params = CreateInvoice::for_customer(&customer.id);
    let err = h
        .client
        .create_invoice(&params, &key("create-inv-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Connection(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Retryable);
    // The invoice exists although the client never heard of it…
    let listed = h
        .client
        .list_invoices(&ListInvoices::default())
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);
    // …and the retry with the same key replays it instead of creating another.
    let retried = h
        .client
        .create_invoice(&params, &key("create-inv-1"))
        .await
        .unwrap();
    assert_eq!(retried.id, listed.data[0].id);
    let listed = h
        .client
        .list_invoices(&ListInvoices::default())
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);
    h.finish().await;
}

#[tokio::test]
async fn a_closed_port_is_a_retryable_connection_error() {
    let h = harness().await;
    let client = stripe_support::client_for(&h.fake, Duration::from_secs(2));
    h.fake.shutdown().await;
    let err = client
        .list_invoices(&ListInvoices::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Connection(_)), "{err:?}");
    assert!(err.is_retryable());
}
