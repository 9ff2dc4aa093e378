//! The fake over raw HTTP: authentication, encoding, errors, replay headers, the control
//! surface, and that its objects have Stripe's shape.

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use stripe_fake::{conformance, FakeConfig, FakeHandle};

const KEY: &str = "sk_test_fake";

async fn fake() -> FakeHandle {
    stripe_fake::spawn(([127, 0, 0, 1], 0).into(), FakeConfig::default())
        .await
        .expect("fake starts")
}

async fn post(fake: &FakeHandle, path: &str, form: &[(&str, &str)], key: &str) -> Response {
    Client::new()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(KEY)
        .header("Stripe-Version", stripe_fake::API_VERSION)
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(form))
        .send()
        .await
        .expect("sent")
}

fn encode(form: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

async fn json(response: Response) -> Value {
    response.json().await.expect("json body")
}

#[tokio::test]
async fn requests_without_or_with_a_malformed_key_are_unauthorized() {
    let fake = fake().await;
    let url = format!("{}/v1/customers", fake.base_url());
    let none = Client::new().get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let body = json(none).await;
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let malformed = Client::new()
        .get(&url)
        .header("Authorization", "Basic xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);
    let live = Client::new()
        .get(&url)
        .bearer_auth("sk_live_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn basic_auth_with_the_key_as_user_name_is_accepted_like_curl_u() {
    let fake = fake().await;
    let url = format!("{}/v1/customers", fake.base_url());
    let response = Client::new()
        .get(&url)
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_json_body_is_refused_as_stripe_refuses_it() {
    let fake = fake().await;
    let response = Client::new()
        .post(format!("{}/v1/customers", fake.base_url()))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "j-1")
        .json(&serde_json::json!({ "name": "Ada" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json(response).await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("x-www-form-urlencoded"));
}

#[tokio::test]
async fn unknown_parameters_and_urls_get_stripes_errors() {
    let fake = fake().await;
    let response = post(&fake, "/v1/customers", &[("colour", "blue")], "u-1").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "parameter_unknown");
    assert_eq!(body["error"]["param"], "colour");
    let nowhere = Client::new()
        .get(format!(
            "{}/v1/charges_of_the_light_brigade",
            fake.base_url()
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
    assert!(json(nowhere).await["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Unrecognized request URL"));
}

#[tokio::test]
async fn a_replayed_response_says_so_in_a_header() {
    let fake = fake().await;
    let first = post(&fake, "/v1/customers", &[("name", "Ada")], "r-1").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = json(first).await;
    let again = post(&fake, "/v1/customers", &[("name", "Ada")], "r-1").await;
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(json(again).await["id"], first["id"]);
    let other = post(&fake, "/v1/customers", &[("name", "Bob")], "r-1").await;
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(other).await["error"]["type"], "idempotency_error");
}

#[tokio::test]
async fn the_control_surface_injects_faults_lists_requests_and_resets() {
    let fake = fake().await;
    let control = |path: &str| format!("{}/__fake/{path}", fake.base_url());
    let client = Client::new();
    let injected = client
        .post(control("faults"))
        .json(&serde_json::json!({ "kind": "rate_limit", "retry_after_secs": 7, "method": "POST", "path": "/v1/customers", "times": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), StatusCode::CREATED);
    let limited = post(&fake, "/v1/customers", &[], "c-1").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"7"[..])
    );
    assert_eq!(
        post(&fake, "/v1/customers", &[], "c-2").await.status(),
        StatusCode::OK
    );
    let log: Vec<Value> = client
        .get(control("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["status"], 429);
    let report: Value = client
        .get(control("conformance"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["violations"], serde_json::json!([]));
    assert_eq!(
        client.post(control("reset")).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn every_object_the_fake_returns_has_stripes_shape() {
    let fake = fake().await;
    let customer =
        json(post(&fake, "/v1/customers", &[("email", "a@example.com")], "o-1").await).await;
    let id = customer["id"].as_str().unwrap_or_default().to_owned();
    let invoice = json(
        post(
            &fake,
            "/v1/invoices",
            &[("customer", &id), ("currency", "eur")],
            "o-2",
        )
        .await,
    )
    .await;
    let inv = invoice["id"].as_str().unwrap_or_default().to_owned();
    let item = json(
        post(
            &fake,
            "/v1/invoiceitems",
            &[
                ("customer", &id),
                ("invoice", &inv),
                ("amount", "100"),
                ("metadata[a]", "b"),
            ],
            "o-3",
        )
        .await,
    )
    .await;
    let finalized = json(
        post(
            &fake,
            "/v1/invoices/{}/finalize".replace("{}", &inv).as_str(),
            &[],
            "o-4",
        )
        .await,
    )
    .await;
    let get = |path: String| {
        let url = format!("{}{path}", fake.base_url());
        async move {
            json(
                Client::new()
                    .get(url)
                    .bearer_auth(KEY)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let lines = get(format!("/v1/invoices/{inv}/lines")).await;
    let list = get("/v1/invoices?limit=3".into()).await;
    let missing = get("/v1/invoices/in_missing".into()).await;
    for object in [
        &customer, &invoice, &item, &finalized, &lines, &list, &missing,
    ] {
        let violations = conformance::check_object(object);
        assert!(violations.is_empty(), "{object}\n{violations:?}");
    }
    assert_eq!(finalized["lines"]["data"][0]["object"], "line_item");
}
