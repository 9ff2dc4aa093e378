//! `Idempotency-Key` on API writes, with Stripe's semantics.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::app::TestApp;

fn org(id: &str) -> Value {
    json!({"org_id": id, "name": "Acme", "currency": "USD", "billing_anchor": "2026-01-01T00:00:00Z"})
}

/// POST `body` to `path` as admin with an `Idempotency-Key`; (status,
/// whether it was a replay, body).
async fn post_keyed(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, bool, Value) {
    let response = app
        .client
        .request(Method::POST, format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let replayed = response
        .headers()
        .get("Idempotent-Replayed")
        .is_some_and(|v| v == "true");
    let text = response.text().await.unwrap();
    (
        status,
        replayed,
        serde_json::from_str(&text).unwrap_or(json!({"raw": text})),
    )
}

/// Whether an organization is registered (read from the ledger itself).
async fn registered(app: &TestApp, org: &str) -> bool {
    let (status, body) = app
        .get(&format!("/v1/organizations/{org}"), &app.admin)
        .await;
    assert!(
        matches!(status, StatusCode::OK | StatusCode::NOT_FOUND),
        "{body}"
    );
    status == StatusCode::OK
}

pub async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_request(
    app: &TestApp,
) {
    let (status, replayed, first) = post_keyed(
        app,
        &app.admin,
        "/v1/organizations",
        "create-acme-1",
        &org("acme"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed);
    // A retry gets the first answer (201, the same body) instead of the
    // 409 "already exists" a retry without the key gets.
    let (status, replayed, again) = post_keyed(
        app,
        &app.admin,
        "/v1/organizations",
        "create-acme-1",
        &org("acme"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert!(replayed);
    assert_eq!(again, first);
    let (status, body) = app.post("/v1/organizations", &app.admin, org("acme")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The same key with another body: 409, and nothing stored.
    let (status, _, body) = post_keyed(
        app,
        &app.admin,
        "/v1/organizations",
        "create-acme-1",
        &org("other"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_reused", "{body}");
    assert_eq!(body["error"]["field"], "Idempotency-Key", "{body}");
    assert!(!registered(app, "other").await);

    // Keys are per caller: another admin's identical key is its own.
    let other_admin =
        api::tokens::create(&app.db.db, "second admin", api::tokens::Role::Admin, None)
            .await
            .unwrap()
            .0;
    let (status, replayed, body) = post_keyed(
        app,
        &other_admin,
        "/v1/organizations",
        "create-acme-1",
        &org("globex"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(!replayed);

    // A charge retried with its key gets its 201 again (without the key,
    // the entry id makes a retry a 200 "nothing written").
    let charge = json!({"id": "ipv4-1", "description": "Dedicated IPv4", "amount": "2.00"});
    let path = "/v1/organizations/acme/charges";
    let (status, _, first) = post_keyed(app, &app.admin, path, "charge-1", &charge).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, replayed, again) = post_keyed(app, &app.admin, path, "charge-1", &charge).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true), "{again}");
    assert_eq!(again, first);
    let (status, body) = app.post(path, &app.admin, charge).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

pub async fn a_failed_request_keeps_nothing_so_its_retry_runs_again(app: &TestApp) {
    let charge = json!({"id": "ipv4-1", "description": "Dedicated IPv4", "amount": "2.00"});
    let path = "/v1/organizations/late/charges";
    // The organization does not exist yet: 404, and the key is not kept.
    let (status, replayed, body) = post_keyed(app, &app.admin, path, "charge-late", &charge).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!replayed);
    let (status, body) = app.post("/v1/organizations", &app.admin, org("late")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, replayed, body) = post_keyed(app, &app.admin, path, "charge-late", &charge).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{body}");
}

pub async fn a_malformed_idempotency_key_is_refused_naming_the_header(app: &TestApp) {
    for key in ["k".repeat(256), "two words".to_owned()] {
        let (status, _, body) =
            post_keyed(app, &app.admin, "/v1/organizations", &key, &org("acme")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], "Idempotency-Key", "{body}");
    }
    assert!(!registered(app, "acme").await);
}

pub async fn racing_retries_with_one_idempotency_key_execute_once(app: &TestApp) {
    let body = org("racer");
    let attempts =
        (0..8).map(|_| post_keyed(app, &app.admin, "/v1/organizations", "race-1", &body));
    let answers = futures::future::join_all(attempts).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::CREATED)
        .map(|(_, _, body)| body)
        .collect();
    assert!(!created.is_empty(), "{answers:?}");
    assert!(created.iter().all(|b| *b == created[0]), "{answers:?}");
    for (status, _, body) in &answers {
        assert!(
            *status == StatusCode::CREATED
                || (*status == StatusCode::CONFLICT
                    && body["error"]["code"] == "idempotency_in_progress"),
            "a retry must get the first answer or wait for it, never execute again: {answers:?}"
        );
    }
    let (_, fresh, _) = answers
        .iter()
        .find(|(s, _, _)| *s == StatusCode::CREATED)
        .unwrap();
    let executed = answers
        .iter()
        .filter(|(s, replayed, _)| *s == StatusCode::CREATED && !replayed)
        .count();
    assert_eq!(
        executed, 1,
        "exactly one attempt executed: {answers:?} ({fresh})"
    );
    assert!(registered(app, "racer").await);
}
