//! An operator: parked syncs, retry, and the console on a replica.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;

use super::super::app::{usage, TestApp};
use super::super::browser::Browser;
use super::{ago, folded, post_usage, sign_in_over_http};

/// Park the sync of acme's current invoice, as the sync does after
/// repeated failures.
async fn park(app: &TestApp, period_start: chrono::DateTime<Utc>) {
    let mut tx = app.db.db.begin_write().await.unwrap();
    tx.query(
        "INSERT INTO stripe_invoice_sync (org_id, period_start, target_version, ledger_status, \
         attempts, last_error, parked, updated_at) VALUES ($1, $2, 1, 'open', 7, $3, $4, $5)",
    )
    .bind("acme")
    .bind(ledger::db::format_timestamp(period_start))
    .bind("stripe: card_declined (402)")
    .bind(true)
    .bind(Utc::now().timestamp_millis())
    .execute()
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

pub async fn an_admin_retries_a_parked_sync_from_the_operations_page(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let position = post_usage(app, "acme", vec![usage("acme", json!("5"), "p1", &ago(50))]).await;
    let current = folded(app, "acme", position).await;
    let start: chrono::DateTime<Utc> = current["invoice"]["period_start"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    park(app, start).await;

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    browser.goto("/console/ops").await;
    assert!(
        browser.body().await.contains("HTTP 403"),
        "operations are admin only"
    );
    browser.goto("/console/organizations/acme").await;
    let sync = browser.text("#sync-state").await;
    assert!(sync.contains("parked"), "{sync}");
    assert!(
        browser.body().await.contains("card_declined"),
        "the last error is shown"
    );
    browser.click("#sign-out").await;

    browser.sign_in(&app.admin).await;
    browser.goto("/console/ops").await;
    let page = browser.body().await;
    assert!(
        page.contains("Projections") && page.contains("card_declined"),
        "{page}"
    );
    browser.screenshot("ops-parked").await;
    browser.click("table button").await;
    let page = browser.body().await;
    assert!(page.contains("Queued again: acme"), "{page}");
    assert!(page.contains("Nothing is parked"), "{page}");
    browser.screenshot("ops-retried").await;
    browser.close().await;
}

pub async fn on_a_read_only_replica_pages_read_and_signing_in_needs_the_primary(
    app: &TestApp,
    _name: &str,
) {
    app.platform("acme").await;
    let replica_db = ledger::db::Database::connect_read_only(&app.db.url)
        .await
        .unwrap();
    let replica = api::http::Application::build(
        replica_db,
        api::http::ApiConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..api::http::ApiConfig::default()
        },
    )
    .await
    .unwrap();
    let replica_base = format!("http://127.0.0.1:{}", replica.port());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(replica.run(stop.clone()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Signed in on the primary, the session reads on the replica.
    let cookie = sign_in_over_http(&client, &app.base, &app.support).await;
    let response = client
        .get(format!("{replica_base}/console/organizations/acme"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Current invoice"));

    // Signing in writes: the replica says to use the primary, as a page.
    let response = client
        .post(format!("{replica_base}/console/login"))
        .form(&[("token", app.support.as_str()), ("login_csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("read-only replica"));
    stop.cancel();
    server.await.unwrap().unwrap();
}
