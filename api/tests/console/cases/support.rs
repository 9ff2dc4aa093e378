//! A support agent: search, an invoice, a line's events, as-of, the live
//! total, the history.

use chrono::{Duration, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::json;

use super::super::app::{usage, TestApp};
use super::super::browser::Browser;
use super::{ago, folded, post_usage};

pub async fn a_support_agent_signs_in_searches_and_follows_an_invoice_line_to_its_events(
    app: &TestApp,
    name: &str,
) {
    app.platform("acme").await;
    app.platform("globex").await;
    let (status, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [
                usage("acme", json!("100"), "u1", &ago(50)),
                usage("acme", json!("250"), "u2", &ago(40)),
            ]}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let first = body["results"][0]["event_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/v1/organizations/acme/usage/{first}/corrections"),
            &app.admin,
            json!({"action": "correct", "quantity": "40", "reason": "meter double-counted"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let current = folded(app, "acme", body["position"].as_i64().unwrap()).await;
    assert_eq!(current["invoice"]["total"], "2.90");

    let mut browser = Browser::start(&app.base, name).await;
    browser.goto("/console/organizations").await;
    assert_eq!(
        browser.path().await,
        "/console/login",
        "unsigned visits go to the sign-in page"
    );
    browser.assert_accessible_basics().await;
    browser.screenshot("login").await;
    browser.sign_in(&app.support).await;
    assert_eq!(browser.path().await, "/console/organizations");

    browser.fill("#q", "acm").await;
    browser.click("#search").await;
    let listed = browser.body().await;
    assert!(
        listed.contains("acme") && !listed.contains("globex"),
        "{listed}"
    );
    browser.screenshot("search").await;

    browser.click_link("acme").await;
    assert_eq!(browser.text("#live-total").await, "2.90");
    let page = browser.body().await;
    assert!(
        page.contains("Stripe sync") && page.contains("not yet in Stripe"),
        "{page}"
    );
    assert!(
        page.contains("Budget, forecast and alerts") && page.contains("none set"),
        "the spend signal, with no budget set: {page}"
    );
    assert!(page.contains("Payment"), "a payment column: {page}");
    browser.assert_accessible_basics().await;
    browser.screenshot("organization").await;
    browser.assert_fits_a_phone().await;
    browser.screenshot("organization-phone").await;
    browser.desktop().await;

    browser.click("#open-current").await;
    assert_eq!(browser.text("#invoice-total").await, "2.90");
    let lines = browser.text("#lines").await;
    assert!(lines.contains("Shared CPU"), "{lines}");
    browser.assert_accessible_basics().await;
    browser.screenshot("invoice").await;

    browser.click("#lines tbody a").await;
    let events = browser.text("#events").await;
    assert!(events.contains("UsageRecorded"), "{events}");
    assert!(events.contains("100") && events.contains("250"), "{events}");
    assert!(
        events.contains("token:test via api:/v1/usage"),
        "who sent them: {events}"
    );
    browser.assert_accessible_basics().await;
    browser.screenshot("line-events").await;
    browser.close().await;
}

pub async fn the_as_of_picker_shows_the_invoice_as_it_stood_earlier(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let first = post_usage(
        app,
        "acme",
        vec![usage("acme", json!("100"), "e1", &ago(50))],
    )
    .await;
    folded(app, "acme", first).await;
    // A whole second after the first usage was recorded and before the
    // second is: the picker's resolution.
    let cut = {
        let now = Utc::now();
        let next = now.with_nanosecond(0).unwrap() + Duration::seconds(1);
        while Utc::now() <= next {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        next
    };
    let second = post_usage(
        app,
        "acme",
        vec![usage("acme", json!("400"), "e2", &ago(40))],
    )
    .await;
    let current = folded(app, "acme", second).await;
    assert_eq!(current["invoice"]["total"], "5.00");
    let start = current["invoice"]["period_start"].as_str().unwrap()[..10].to_owned();

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    browser
        .goto(&format!("/console/organizations/acme/invoices/{start}"))
        .await;
    assert_eq!(browser.text("#invoice-total").await, "5.00");
    browser
        .set_value("as_of", &cut.format("%Y-%m-%dT%H:%M:%S").to_string())
        .await;
    browser.click("#show-as-of").await;
    assert_eq!(browser.text("#invoice-total").await, "1.00");
    assert!(browser
        .text("#as-of-notice")
        .await
        .contains("As it stood at"));
    browser.screenshot("as-of").await;
    browser.close().await;
}

pub async fn the_live_total_changes_as_usage_arrives_without_reloading(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let first = post_usage(
        app,
        "acme",
        vec![usage("acme", json!("100"), "l1", &ago(50))],
    )
    .await;
    folded(app, "acme", first).await;

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    browser.goto("/console/organizations/acme").await;
    assert_eq!(browser.text("#live-total").await, "1.00");
    // A marker the page would lose on a reload.
    browser
        .client
        .execute("window.__not_reloaded = true;", vec![])
        .await
        .unwrap();
    post_usage(
        app,
        "acme",
        vec![usage("acme", json!("150"), "l2", &ago(30))],
    )
    .await;
    browser.wait_for_text("#live-total", |t| t == "2.50").await;
    let same_page = browser
        .client
        .execute("return window.__not_reloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, json!(true), "the total changed without a reload");
    browser.screenshot("live-total").await;
    browser.close().await;
}

pub async fn the_event_history_filters_by_type_and_pages_with_a_cursor(app: &TestApp, name: &str) {
    app.platform("acme").await;
    let records = (0..60)
        .map(|i| usage("acme", json!("1"), &format!("h{i}"), &ago(50)))
        .collect();
    let position = post_usage(app, "acme", records).await;
    folded(app, "acme", position).await;

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&app.support).await;
    browser.goto("/console/organizations/acme").await;
    browser.click_link("Event history").await;
    browser.set_value("type", "UsageRecorded").await;
    browser.click("#filter").await;
    let rows = |browser: &Browser| {
        let client = browser.client.clone();
        async move {
            client
                .execute(
                    "return Array.from(document.querySelectorAll('#events tbody tr td:nth-child(2)')).map(td => td.textContent);",
                    vec![],
                )
                .await
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let first = rows(&browser).await;
    assert_eq!(first.len(), 50, "a page is 50 events");
    assert!(first.iter().all(|t| t == "UsageRecorded"), "{first:?}");
    browser.assert_accessible_basics().await;
    browser.screenshot("history").await;
    browser.click("#next-page").await;
    let second = rows(&browser).await;
    assert_eq!(second.len(), 10, "the rest on the next page: {second:?}");
    assert!(second.iter().all(|t| t == "UsageRecorded"));
    assert!(
        !browser.body().await.contains("Next page"),
        "the last page has no next link"
    );
    browser.close().await;
}
