//! An API replica (`billing serve --read-only`) over the same database:
//! every read the OpenAPI document lists answers, every write is refused
//! with 503 `read_only`, and nothing writes — on PostgreSQL the replica's
//! sessions run with `default_transaction_read_only = on`, so any write
//! would fail loudly instead of being refused politely.

use std::time::Duration;

use api::http::{ApiConfig, Application};
use ledger::db::{Backend, Database};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::app::{usage, TestApp};

/// Fill a documented path's parameters with real values.
fn concrete(path: &str, event_id: &str, period: &str, line: &str, endpoint: &str) -> String {
    path.replace("{org_id}", "acme")
        .replace("{endpoint_id}", endpoint)
        .replace("{event_id}", event_id)
        .replace("{period_start}", period)
        .replace("{line_id}", line)
}

pub async fn a_read_only_replica_answers_every_read_and_refuses_every_write(app: &TestApp) {
    app.platform("acme").await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/organizations/acme/budget",
            Some(&app.admin),
            Some(json!({"amount": "100", "currency": "USD"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, hook) = app
        .post(
            "/v1/webhook-endpoints",
            &app.admin,
            json!({"url": "https://platform.example/hooks", "event_types": ["alert.triggered"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let endpoint = hook["endpoint"]["endpoint_id"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now().to_rfc3339();
    let (status, body) = app
        .post(
            "/v1/usage",
            &app.ingest,
            json!({"records": [usage("acme", json!("5"), "r-1", &now), usage("acme", json!("7"), "r-2", &now)]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let head = app.db.store().head_position().await.unwrap();
    let (status, invoice) = app
        .get(
            &format!("/v1/organizations/acme/invoices/current?min_position={head}"),
            &app.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invoice}");
    let period = invoice["invoice"]["period_start"]
        .as_str()
        .unwrap()
        .to_owned();
    let line = invoice["invoice"]["lines"][0]["line_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = app.db.store().read_all(0, 100).await.unwrap();
    let event_id = events.last().unwrap().event_id.to_string();

    let replica_db = Database::connect_read_only(&app.db.url).await.unwrap();
    replica_db.check_schema().await.unwrap();
    if replica_db.backend() == Backend::Postgres {
        let (setting,): (String,) = replica_db
            .query_as("SHOW default_transaction_read_only")
            .fetch_one()
            .await
            .unwrap();
        assert_eq!(setting, "on", "replica sessions must be read-only");
    }
    let replica = Application::build(
        replica_db.clone(),
        ApiConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            read_wait: Duration::from_millis(300),
            ..ApiConfig::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", replica.port());
    let stop = CancellationToken::new();
    let server = tokio::spawn(replica.run(stop.clone()));
    let client = reqwest::Client::new();
    let call = |method: Method, path: String| {
        let request = client
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(&app.admin);
        let request = if method == Method::GET {
            request
        } else {
            request.json(&json!({}))
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            (status, text)
        }
    };

    let (status, doc) = call(Method::GET, "/v1/openapi.json".into()).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let (mut reads, mut writes) = (0, 0);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = concrete(path, &event_id, &period, &line, &endpoint);
            let (status, text) = call(method.clone(), url.clone()).await;
            if method == Method::GET {
                reads += 1;
                assert_eq!(status, StatusCode::OK, "GET {url} on the replica: {text}");
            } else {
                writes += 1;
                assert_eq!(
                    status,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{method} {url} on the replica: {text}"
                );
                let error: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(error["error"]["code"], "read_only", "{text}");
            }
        }
    }
    assert!(reads >= 15 && writes >= 8, "{reads} reads, {writes} writes");

    // min_position works as on the primary: reached answers, not yet
    // reached is a 503 after the wait, never stale data.
    let (status, _) = call(
        Method::GET,
        format!("/v1/organizations/acme/invoices/current?min_position={head}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = call(
        Method::GET,
        format!(
            "/v1/organizations/acme/invoices/current?min_position={}",
            head + 1_000
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");

    // The sync's change feed and its summary read without writing too.
    let tables = projections::tables_for(&replica_db);
    let (changed, checkpoint) = tables.changed_invoices(0, 100).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(checkpoint, head);
    sync::status::summary(&replica_db).await.unwrap();

    // Nothing the replica served wrote a row.
    assert_eq!(app.db.store().head_position().await.unwrap(), head);
    stop.cancel();
    server.await.unwrap().unwrap();
}
