//! Budgets and the spend signal over real HTTP, on both backends.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app::{usage, TestApp};

async fn put_budget(app: &TestApp, org: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &format!("/v1/organizations/{org}/budget"),
        Some(token),
        Some(body),
    )
    .await
}

pub async fn a_budget_is_versioned_and_putting_the_same_budget_again_stores_nothing(app: &TestApp) {
    app.platform("acme").await;
    let (status, body) = app.get("/v1/organizations/acme/budget", &app.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let budget = json!({"amount": "100.00", "currency": "USD",
        "thresholds": [{"percent": "100"}, {"amount": "80.00"}, {"percent": "50"}]});
    let (status, body) = put_budget(app, "acme", &app.admin, budget.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], true);
    assert_eq!(body["budget"]["version"], 1);
    let amounts: Vec<&str> = body["budget"]["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["50.00", "80.00", "100.00"], "{body}");
    let (status, again) = put_budget(app, "acme", &app.admin, budget).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["changed"], false);
    assert_eq!(again["budget"]["version"], 1);
    assert_eq!(again["budget"]["position"], body["budget"]["position"]);
    let (status, body) = put_budget(
        app,
        "acme",
        &app.admin,
        json!({"amount": "200.00", "currency": "USD"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["budget"]["version"], 2);
    assert_eq!(
        body["budget"]["thresholds"][0]["threshold"]["percent"],
        "100"
    );
    let (status, read) = app.get("/v1/organizations/acme/budget", &app.support).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["version"], 2);
    assert_eq!(read["amount"], "200.00");
    let (_, events) = app
        .get("/v1/organizations/acme/events?type=BudgetSet", &app.support)
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");
}

pub async fn a_budget_breaking_a_rule_is_refused_naming_the_field(app: &TestApp) {
    app.platform("acme").await;
    for (body, field) in [
        (json!({"amount": "10", "currency": "EUR"}), "currency"),
        (
            json!({"amount": "10", "currency": "USD", "thresholds": [{"percent": "2000"}]}),
            "thresholds[0].percent",
        ),
        (
            json!({"amount": "10", "currency": "USD", "thresholds": [{"percent": "50"}, {"percent": "50.0"}]}),
            "thresholds[1]",
        ),
        (
            json!({"amount": "10", "currency": "USD", "thresholds": []}),
            "thresholds",
        ),
    ] {
        let (status, error) = put_budget(app, "acme", &app.admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    let (status, _) = put_budget(
        app,
        "acme",
        &app.admin,
        json!({"amount": "0", "currency": "USD"}),
    )
    .await;
    assert!(status.is_client_error());
    let (status, _) = put_budget(
        app,
        "nobody",
        &app.admin,
        json!({"amount": "10", "currency": "USD"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, events) = app
        .get("/v1/organizations/acme/events?type=BudgetSet", &app.support)
        .await;
    assert!(events["events"].as_array().unwrap().is_empty(), "{events}");
}

pub async fn admins_and_the_organizations_own_token_set_budgets_and_nobody_else(app: &TestApp) {
    app.platform("acme").await;
    app.platform("other").await;
    let budget = json!({"amount": "10", "currency": "USD"});
    let own = app.org_token("acme").await;
    let foreign = app.org_token("other").await;
    let (status, body) = put_budget(app, "acme", &own, budget.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for token in [&foreign, &app.support, &app.ingest] {
        let (status, body) = put_budget(app, "acme", token, budget.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, _) = app.get("/v1/organizations/acme/budget", &own).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/organizations/acme/budget", &foreign).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/v1/organizations/acme/spend", &foreign).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

pub async fn spend_reports_the_total_forecast_budget_and_thresholds_crossed(app: &TestApp) {
    app.platform("acme").await;
    let (status, body) = put_budget(
        app,
        "acme",
        &app.admin,
        json!({"amount": "100.00", "currency": "USD",
               "thresholds": [{"percent": "50"}, {"percent": "100"}, {"amount": "1000000"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = chrono::Utc::now().to_rfc3339();
    let (status, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage("acme", json!("6000"), "s-1", &now)]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let head = app.db.store().head_position().await.unwrap();
    let (status, spend) = app
        .get(
            &format!("/v1/organizations/acme/spend?min_position={head}"),
            &app.org_token("acme").await,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{spend}");
    assert_eq!(spend["spend"], "60.00", "{spend}");
    assert_eq!(spend["budget"]["version"], 1);
    assert_eq!(spend["over_budget"], false);
    let forecast: rust_decimal::Decimal = spend["forecast"].as_str().unwrap().parse().unwrap();
    assert!(forecast >= rust_decimal::Decimal::from(60), "{spend}");
    let crossed: Vec<(String, String)> = spend["thresholds_crossed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["threshold"].to_string(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        crossed.contains(&(json!({"percent": "50"}).to_string(), "actual".into())),
        "{spend}"
    );
    assert!(
        !crossed.iter().any(|(t, _)| t.contains("1000000")),
        "{spend}"
    );
    let (status, current) = app
        .get("/v1/organizations/acme/invoices/current", &app.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Measured a moment later: the same run-rate, give or take a cent.
    let again: rust_decimal::Decimal = current["forecast"]["total"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (again - forecast).abs() <= rust_decimal::Decimal::ONE,
        "{current}"
    );
    assert_eq!(current["forecast"]["meters"][0]["quantity"], "6000");

    let later = chrono::Utc::now().to_rfc3339();
    app.post(
        "/v1/usage",
        &app.ingest,
        json!({"records": [usage("acme", json!("5000"), "s-2", &later)]}),
    )
    .await;
    let head = app.db.store().head_position().await.unwrap();
    let (_, spend) = app
        .get(
            &format!("/v1/organizations/acme/spend?min_position={head}"),
            &app.admin,
        )
        .await;
    assert_eq!(spend["spend"], "110.00", "{spend}");
    assert_eq!(spend["over_budget"], true, "{spend}");
    assert_eq!(spend["projected_over_budget"], true, "{spend}");
}
