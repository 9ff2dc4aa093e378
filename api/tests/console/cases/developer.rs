//! A developer with an org token: their billing page, and no other.

use reqwest::StatusCode;
use serde_json::json;

use super::super::app::{usage, TestApp};
use super::super::browser::Browser;
use super::{ago, folded, post_usage, sign_in_over_http};

pub async fn an_org_token_sees_its_billing_page_and_a_403_page_for_another_organization(
    app: &TestApp,
    name: &str,
) {
    app.platform("acme").await;
    app.platform("globex").await;
    let position = post_usage(
        app,
        "acme",
        vec![
            usage("acme", json!("100"), "b1", &ago(50)),
            usage("acme", json!("300"), "b2", &ago(40)),
        ],
    )
    .await;
    folded(app, "acme", position).await;
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/v1/organizations/acme/budget",
            Some(&app.admin),
            Some(json!({"amount": "3.00", "currency": "USD",
                "thresholds": [{"percent": "50"}, {"percent": "100"}]})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let token = app.org_token("acme").await;

    let mut browser = Browser::start(&app.base, name).await;
    browser.sign_in(&token).await;
    assert_eq!(browser.path().await, "/console/organizations/acme/billing");
    assert_eq!(browser.text("#owed").await, "4.00");
    let svg = browser
        .client
        .execute(
            "return document.querySelectorAll('figure svg rect').length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(svg.as_u64().unwrap() > 1, "a server-drawn SVG chart: {svg}");
    // 4.00 spent against a 3.00 budget: both thresholds reached, over budget.
    let budget = browser.text("#budget").await;
    assert!(
        budget.contains("3.00 USD per period") && budget.contains("over budget"),
        "{budget}"
    );
    let alerts = browser.text("#alerts").await;
    assert!(
        alerts.contains("50% (1.50 USD): reached") && alerts.contains("100% (3.00 USD): reached"),
        "{alerts}"
    );
    assert!(browser.text("#forecast").await.ends_with("USD"));
    assert!(
        browser.body().await.contains("unpaid"),
        "payment status of each invoice"
    );
    browser.assert_accessible_basics().await;
    browser.screenshot("billing").await;
    browser.assert_fits_a_phone().await;
    browser.screenshot("billing-phone").await;
    browser.desktop().await;

    browser.goto("/console/organizations/globex/billing").await;
    let page = browser.body().await;
    assert!(
        page.contains("Not allowed") && page.contains("HTTP 403"),
        "{page}"
    );
    browser.goto("/console/organizations/globex").await;
    assert!(browser.body().await.contains("HTTP 403"));
    browser.screenshot("forbidden").await;
    browser.close().await;

    // The same answer over plain HTTP, with the status code.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = sign_in_over_http(&client, &app.base, &token).await;
    let response = client
        .get(format!("{}/console/organizations/globex/billing", app.base))
        .header("Cookie", &signed_in)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}
