//! Webhook endpoints over real HTTP, and the whole path from usage to a
//! verified delivery, on both backends.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use base64::Engine;
use hmac::Mac;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app::{usage, TestApp};

/// A receiver that records what it gets and answers 200.
async fn receiver() -> (String, Arc<Mutex<Vec<(HeaderMap, String)>>>) {
    let got: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Standard Webhooks verification written from the specification.
fn verifies(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let signed = format!(
        "{}.{}.{}",
        headers["webhook-id"].to_str().unwrap(),
        headers["webhook-timestamp"].to_str().unwrap(),
        body
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    headers["webhook-signature"]
        .to_str()
        .unwrap()
        .split(' ')
        .any(|s| s == expected)
}

pub async fn admins_register_list_change_rotate_and_delete_webhook_endpoints(app: &TestApp) {
    let (status, created) = app
        .post(
            "/v1/webhook-endpoints",
            &app.admin,
            json!({"url": "https://platform.example/hooks", "event_types": ["alert.triggered", "invoice.finalized"], "description": "alerts"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = created["endpoint"]["endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (body, field) in [
        (
            json!({"url": "ftp://platform.example/x", "event_types": ["alert.triggered"]}),
            "url",
        ),
        (
            json!({"url": "https://platform.example/x", "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": "https://platform.example/x", "event_types": ["alert.triggered", "alert.triggered"]}),
            "event_types",
        ),
    ] {
        let (status, error) = app
            .post("/v1/webhook-endpoints", &app.admin, body.clone())
            .await;
        assert!(status.is_client_error(), "{body}: {error}");
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(error["error"]["field"], field, "{error}");
        }
    }
    let (status, _) = app
        .post(
            "/v1/webhook-endpoints",
            &app.support,
            json!({"url": "https://platform.example/hooks", "event_types": ["alert.triggered"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list) = app.get("/v1/webhook-endpoints", &app.admin).await;
    assert_eq!(list["endpoints"].as_array().unwrap().len(), 1);
    assert!(
        list.to_string().find("whsec_").is_none(),
        "no secret in listings"
    );
    let path = format!("/v1/webhook-endpoints/{id}");
    let (status, changed) = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin),
            Some(json!({"enabled": false, "description": "paused"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["disabled_reason"], "disabled by an operator");
    assert_eq!(changed["description"], "paused");
    let (status, rotated) = app
        .post(&format!("{path}/rotate-secret"), &app.admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["secret"], created["secret"]);
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&app.admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&path, &app.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn usage_crossing_a_budget_reaches_the_receiver_as_a_signed_alert(app: &TestApp) {
    let (url, got) = receiver().await;
    let (status, created) = app
        .post(
            "/v1/webhook-endpoints",
            &app.admin,
            json!({"url": url, "event_types": ["alert.triggered"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["endpoint"]["endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.platform("acme").await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/organizations/acme/budget",
            Some(&app.admin),
            Some(json!({"amount": "50.00", "currency": "USD", "thresholds": [{"percent": "100"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = chrono::Utc::now();
    let (status, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage("acme", json!("6000"), "w-1", &now.to_rfc3339())]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let head = app.db.store().head_position().await.unwrap();
    let (status, spend) = app
        .get(
            &format!("/v1/organizations/acme/spend?min_position={head}"),
            &app.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{spend}");
    assert_eq!(spend["over_budget"], true, "{spend}");

    notifications::alerter::Alerter::new(&app.db.db)
        .run_until_idle(now)
        .await
        .unwrap();
    let dispatcher = notifications::webhooks::Dispatcher::new(
        &app.db.db,
        notifications::webhooks::DispatchOptions {
            keys: app.keys.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    dispatcher.run_until_idle(now).await.unwrap();
    let deliveries: Vec<(HeaderMap, String)> = got.lock().unwrap().clone();
    let actual: Vec<Value> = deliveries
        .iter()
        .map(|(h, b)| {
            assert!(verifies(&secret, h, b), "signature of {b}");
            serde_json::from_str(b).unwrap()
        })
        .filter(|b: &Value| b["data"]["payload"]["kind"] == "actual")
        .collect();
    assert_eq!(actual.len(), 1, "{deliveries:?}");
    assert_eq!(actual[0]["type"], "alert.triggered");
    assert_eq!(actual[0]["data"]["org_id"], "acme");
    assert_eq!(actual[0]["data"]["payload"]["spend"], "60.00");

    let (status, log) = app
        .get(
            &format!("/v1/webhook-endpoints/{id}/deliveries"),
            &app.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let attempt = &log["attempts"][0];
    assert_eq!(attempt["outcome"], "delivered", "{log}");
    assert_eq!(attempt["response_status"], 200);
    let webhook_id = attempt["webhook_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/redeliver"),
            &app.admin,
            json!({"webhook_id": webhook_id}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/replay"),
            &app.admin,
            json!({"after_position": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body["messages"].as_u64().unwrap() >= 1, "{body}");
    dispatcher.run_until_idle(chrono::Utc::now()).await.unwrap();
    let again: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .skip(deliveries.len())
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert!(again.contains(&webhook_id), "{again:?}");
    let (_, metrics) = app.get("/metrics", &app.admin).await;
    let text = metrics["raw"].as_str().unwrap_or_default();
    assert!(
        text.contains("webhook_deliveries{outcome=\"delivered\"}"),
        "{text}"
    );
    assert!(
        text.contains("webhook_oldest_undelivered_seconds 0"),
        "{text}"
    );
}
