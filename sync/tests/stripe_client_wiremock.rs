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
async fn a_success_body_of_the_wrong_shape_is_a_permanent_decode_error() {
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
