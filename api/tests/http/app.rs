//! `spawn_app()`: the real API on a random port over a fresh database,
//! with typed request helpers.

use std::time::Duration;

use api::http::{ApiConfig, Application};
use api::tokens::{self, Role};
use ledger::OrgId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    pub db: testkit::TestDb,
    pub client: reqwest::Client,
    pub admin: String,
    pub ingest: String,
    pub support: String,
    /// Seals the webhook endpoints' secrets (the API's and a test
    /// dispatcher's).
    pub keys: notifications::webhooks::sealing::Keyring,
    shutdown: CancellationToken,
    projector: tokio::task::JoinHandle<()>,
}

pub async fn spawn_app(db: testkit::TestDb) -> TestApp {
    spawn_app_with(db, ApiConfig::default()).await
}

/// [`spawn_app`] with other settings (`bind`, `max_batch`, `read_wait` are the test's).
pub async fn spawn_app_with(db: testkit::TestDb, base: ApiConfig) -> TestApp {
    let keys = if base.webhook_keys.is_empty() {
        notifications::webhooks::sealing::Keyring::generate()
    } else {
        base.webhook_keys.clone()
    };
    let config = ApiConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        webhook_keys: keys.clone(),
        max_batch: 5_000,
        read_wait: Duration::from_secs(5),
        ..base
    };
    let app = Application::build(db.db.clone(), config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    let projector = {
        let runner = projections::projector_for(&db.db).with_batch_size(2_000);
        let shutdown = shutdown.clone();
        tokio::spawn(async move { runner.run(Duration::from_millis(10), shutdown).await })
    };
    let token = |role| {
        let db = db.db.clone();
        async move { tokens::create(&db, "test", role, None).await.unwrap().0 }
    };
    TestApp {
        admin: token(Role::Admin).await,
        ingest: token(Role::Ingest).await,
        support: token(Role::Support).await,
        keys,
        base,
        client: reqwest::Client::new(),
        shutdown,
        projector,
        db,
    }
}

impl TestApp {
    pub async fn org_token(&self, org: &str) -> String {
        let org = OrgId::new(org).unwrap();
        tokens::create(&self.db.db, "org reader", Role::Org, Some(&org))
            .await
            .unwrap()
            .0
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Register an org (anchor 2026-01-01) and a per-unit cpu price.
    pub async fn platform(&self, org: &str) {
        let (status, body) = self
            .post(
                "/v1/organizations",
                &self.admin,
                json!({"org_id": org, "name": "Acme", "currency": "USD", "billing_anchor": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _) = self
            .post(
                "/v1/prices",
                &self.admin,
                json!({"price_id": "cpu", "meter": "cpu_seconds", "currency": "USD", "unit": "CPU-second",
                       "description": "Shared CPU", "spec": {"model": {"type": "per_unit", "unit_price": "0.01"}},
                       "effective_from": (chrono::Utc::now() - chrono::Duration::minutes(4)).to_rfc3339()}),
            )
            .await;
        assert!(status.is_success());
    }

    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.projector.await;
    }
}

pub fn usage(org: &str, quantity: Value, key: &str, at: &str) -> Value {
    json!({"org_id": org, "meter": "cpu_seconds", "quantity": quantity, "occurred_at": at, "idempotency_key": key})
}
