//! The fake speaks today's Stripe: its example objects are Stripe's own (the committed
//! copy equals `../shared/stripe/fixtures3.json`), and it treats `Stripe-Version` as
//! Stripe does — a malformed one is refused, the one in force is echoed.

use std::path::PathBuf;

use reqwest::{Client, StatusCode};
use serde_json::Value;
use stripe_fake::{conformance, FakeConfig, FakeHandle, API_VERSION};

const KEY: &str = "sk_test_fake";

/// `../shared/stripe/<name>` relative to the project root (the workspace root's parent
/// holds `shared/`, whichever worktree the project is checked out in).
fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/stripe")
        .join(name)
}

async fn fake(config: FakeConfig) -> FakeHandle {
    stripe_fake::spawn(([127, 0, 0, 1], 0).into(), config)
        .await
        .expect("fake starts")
}

#[test]
fn the_committed_example_objects_are_stripes_current_fixtures_unchanged() {
    let path = shared("fixtures3.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let upstream: Value = serde_json::from_str(&text).expect("fixtures3.json is JSON");
    let committed = conformance::fixture_objects().expect("committed fixtures parse");
    let resources = committed["resources"].as_object().expect("resources");
    assert!(resources.len() >= 7, "{resources:?}");
    for (name, object) in resources {
        assert_eq!(
            object, &upstream["resources"][name],
            "{name} differs from fixtures3.json: run scripts/extract_stripe_fixtures.py"
        );
    }
    let line = &resources["line_item"];
    assert!(line["parent"]["invoice_item_details"].is_object());
    assert!(line.get("invoice_item").is_none() && line.get("type").is_none());
}

#[test]
fn the_shape_check_refuses_a_line_in_the_shape_of_an_older_api_version() {
    let committed = conformance::fixture_objects().expect("committed fixtures parse");
    let mut legacy = committed["resources"]["line_item"].clone();
    let fields = legacy.as_object_mut().expect("an object");
    fields.remove("parent");
    fields.insert("type".into(), "invoiceitem".into());
    fields.insert("invoice_item".into(), "ii_1".into());
    let problems: Vec<String> = conformance::check_object(&legacy)
        .iter()
        .map(ToString::to_string)
        .collect();
    let all = problems.join("\n");
    assert!(all.contains("lacks field \"parent\""), "{all}");
    assert!(all.contains("has field \"invoice_item\""), "{all}");
    assert!(all.contains("has field \"type\""), "{all}");
}

#[tokio::test]
async fn a_malformed_stripe_version_is_refused_with_stripes_error() {
    let fake = fake(FakeConfig::default()).await;
    let response = Client::new()
        .get(format!("{}/v1/customers", fake.base_url()))
        .bearer_auth(KEY)
        .header("Stripe-Version", "2026-1-28")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "Invalid Stripe API version: 2026-1-28"
    );
    assert!(conformance::check_object(&body).is_empty());
    let log = fake.requests();
    assert_eq!(log[0].stripe_version.as_deref(), Some("2026-1-28"));
}

#[tokio::test]
async fn the_version_in_force_is_echoed_the_requests_or_else_the_accounts_default() {
    let fake = fake(FakeConfig {
        account_api_version: "2024-06-20".into(),
        ..FakeConfig::default()
    })
    .await;
    let url = format!("{}/v1/customers", fake.base_url());
    let pinned = Client::new()
        .get(&url)
        .bearer_auth(KEY)
        .header("Stripe-Version", API_VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(pinned.status(), StatusCode::OK);
    assert_eq!(pinned.headers()["stripe-version"], API_VERSION);
    let default = Client::new()
        .get(&url)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(default.headers()["stripe-version"], "2024-06-20");
    let versions: Vec<Option<String>> = fake
        .requests()
        .into_iter()
        .map(|r| r.stripe_version)
        .collect();
    assert_eq!(versions, vec![Some(API_VERSION.to_owned()), None]);
}
