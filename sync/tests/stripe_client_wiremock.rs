//! Narrow client checks against a scripted server (wiremock) for what the fake never sends.

use std::time::Duration;

use secrecy::SecretString;
use sync::stripe::{ErrorClass, StripeClient, StripeConfig, StripeError};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> StripeClient {
    let mut config = StripeConfig::new(server.uri(), SecretString::from("sk_test_x"));
    config.request_timeout = Duration::from_secs(2);
    StripeClient::new(&config).unwrap()
}

#[tokio::test]
async fn a_gateway_error_page_is_still_a_retryable_api_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_1"))
        .and(header("authorization", "Bearer sk_test_x"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>"))
        .mount(&server)
        .await;
    let err = client(&server)
        .retrieve_customer("cus_1")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.class()),
        (Some(502), ErrorClass::Retryable)
    );
    assert_eq!(err.api_error().map(|e| e.kind.as_str()), Some("api_error"));
}

#[tokio::test]
async fn every_request_pins_the_configured_api_version() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_1"))
        .and(header("stripe-version", sync::stripe::DEFAULT_API_VERSION))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"id":"cus_1","object":"customer","created":1,"metadata":{},"unknown_new_field":{"a":1}}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let customer = client(&server).retrieve_customer("cus_1").await.unwrap();
    assert_eq!(customer.id, "cus_1", "unknown fields are ignored");

    let mut config = StripeConfig::new(server.uri(), SecretString::from("sk_test_x"));
    config.api_version = "2025-03-31.basil".into();
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus_2"))
        .and(header("stripe-version", "2025-03-31.basil"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(
                r#"{"id":"cus_2","object":"customer","created":1,"metadata":null}"#,
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let other = StripeClient::new(&config).unwrap();
    assert_eq!(other.api_version(), "2025-03-31.basil");
    other.retrieve_customer("cus_2").await.unwrap();

    config.api_version = "latest".into();
    assert!(matches!(
        StripeClient::new(&config),
        Err(StripeError::Config(_))
    ));
}

#[tokio::test]
async fn a_write_answered_with_an_unreadable_body_is_in_doubt_not_permanent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"object\": \"surprise\"}"))
        .mount(&server)
        .await;
    let key = sync::stripe::IdempotencyKey::new("k-1").unwrap();
    let err = client(&server)
        .finalize_invoice("in_1", &key)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StripeError::Decode {
                status: 200,
                write: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.is_in_doubt(),
        "Stripe made the change; we only could not read it"
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert!(!err.is_outage());
}

#[tokio::test]
async fn a_read_answered_with_a_body_of_the_wrong_shape_is_a_permanent_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"id\": 5}"))
        .mount(&server)
        .await;
    let err = client(&server)
        .retrieve_customer("cus_1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::Decode { status: 200, .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!err.is_in_doubt());
}

#[tokio::test]
async fn ids_are_escaped_into_one_path_segment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/customers/cus%2F..%2Fx"))
        .respond_with(ResponseTemplate::new(404).set_body_string(
            r#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such customer"}}"#,
        ))
        .mount(&server)
        .await;
    let err = client(&server)
        .retrieve_customer("cus/../x")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("resource_missing"));
}
