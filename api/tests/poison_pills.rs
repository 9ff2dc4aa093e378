//! No poison pills: whatever a stored event or row of one organization
//! holds, the runner, a rebuild and the closer set that organization (or
//! invoice) aside, say so in the ops API and the metrics, and bill every
//! other organization as before. On both backends.

#[path = "http/app.rs"]
#[allow(dead_code)]
mod app;

use std::time::Duration;

use chrono::{DateTime, Duration as Days, TimeZone, Utc};
use ledger::event::{OrganizationCreated, PriceSet, UsageRecorded};
use ledger::money::Currency;
use ledger::{EventMetadata, ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

async fn append(db: &testkit::TestDb, stream: StreamId, event: NewEvent) {
    db.store()
        .append(&stream, ExpectedVersion::Any, vec![event])
        .await
        .unwrap();
}

async fn domain(db: &testkit::TestDb, stream: StreamId, event: LedgerEvent, at: DateTime<Utc>) {
    append(db, stream, NewEvent::from_domain(&event, at).unwrap()).await;
}

/// A per-unit price; organizations created on 2025-01-01 with usage in
/// January 2025 (a long-ended period).
async fn seed(db: &testkit::TestDb, orgs: &[&str], quantity: &str) {
    let price = LedgerEvent::PriceSet(PriceSet {
        price_id: "cpu".into(),
        meter: "cpu_seconds".into(),
        currency: Currency::USD,
        unit: "CPU-second".into(),
        description: "CPU".into(),
        spec: serde_json::from_value(json!({"model": {"type": "per_unit", "unit_price": "0.01"}}))
            .unwrap(),
        effective_from: anchor(),
    });
    domain(db, StreamId::catalog(), price, anchor()).await;
    for org in orgs {
        let org = OrgId::new(*org).unwrap();
        let created = LedgerEvent::OrganizationCreated(OrganizationCreated {
            org_id: org.clone(),
            name: org.as_str().to_owned(),
            currency: Currency::USD,
            billing_anchor: anchor(),
            stripe_customer_id: None,
        });
        domain(db, StreamId::organization(&org), created, anchor()).await;
        usage(db, &org, quantity).await;
    }
}

async fn usage(db: &testkit::TestDb, org: &OrgId, quantity: &str) {
    let usage = LedgerEvent::UsageRecorded(UsageRecorded {
        org_id: org.clone(),
        meter: "cpu_seconds".into(),
        quantity: quantity.parse().unwrap(),
        window: None,
        source: "test".into(),
        attributes: Default::default(),
    });
    domain(db, StreamId::usage(org), usage, anchor() + Days::days(3)).await;
}

/// An event the fold cannot decode: a `UsageRecorded` whose payload is not one.
fn undecodable(org: &str) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: "UsageRecorded".into(),
        schema_version: 1,
        org_id: Some(org.into()),
        payload: json!({"not": "a usage record"}).into(),
        metadata: EventMetadata::default(),
        occurred_at: anchor() + Days::days(4),
        idempotency_key: None,
    }
}

async fn wait_caught_up(app: &app::TestApp) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.get("/v1/ops/projections", &app.admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["projections"][0]["events_behind"] == 0 {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "projection never caught up: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn parked_orgs(status: &Value) -> Vec<String> {
    status["parked_organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["org_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn invoice_status(app: &app::TestApp, org: &str, period: &str) -> String {
    let (status, body) = app
        .get(&format!("/v1/organizations/{org}/invoices"), &app.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["period_start"].as_str().unwrap().starts_with(period))
        .map_or_else(
            || "missing".to_owned(),
            |i| i["status"].as_str().unwrap().to_owned(),
        )
}

fn metric(text: &str, name: &str) -> i64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

async fn one_bad_organization_never_stops_the_others(db: testkit::TestDb) {
    seed(&db, &["alpha", "beta", "overflow"], "100").await;
    let database = db.db.clone();
    let store = db.store();
    let app = app::spawn_app(db).await;
    wait_caught_up(&app).await;
    let db = &app.db;

    // Undecodable, and usage whose amount no invoice may carry (10^13 USD).
    append(
        db,
        StreamId::usage(&OrgId::new("beta").unwrap()),
        undecodable("beta"),
    )
    .await;
    usage(db, &OrgId::new("overflow").unwrap(), "1000000000000000").await;
    // Events of everyone after the poison are folded as before.
    usage(db, &OrgId::new("alpha").unwrap(), "50").await;
    let gamma = OrgId::new("gamma").unwrap();
    domain(
        db,
        StreamId::organization(&gamma),
        LedgerEvent::OrganizationCreated(OrganizationCreated {
            org_id: gamma.clone(),
            name: "Gamma".into(),
            currency: Currency::USD,
            billing_anchor: anchor(),
            stripe_customer_id: None,
        }),
        anchor(),
    )
    .await;
    usage(db, &gamma, "7").await;

    let status = wait_caught_up(&app).await;
    let mut parked = parked_orgs(&status);
    parked.sort();
    assert_eq!(parked, ["beta", "overflow"], "{status}");
    let errors: Vec<&str> = status["parked_organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["error"].as_str().unwrap())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("could not be decoded")),
        "{status}"
    );
    assert!(errors.iter().any(|e| e.contains("beyond")), "{status}");

    let (_, alpha) = app
        .get("/v1/organizations/alpha/invoices", &app.admin)
        .await;
    let january = alpha["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["period_start"].as_str().unwrap().starts_with("2025-01"))
        .cloned()
        .unwrap();
    assert_eq!(
        january["total"], "1.50",
        "150 CPU-seconds at $0.01: {january}"
    );
    // Read as of a moment, the same organization is a clear refusal naming
    // the rule its events break, not a server error; the others read fine.
    let (status, body) = app
        .get(
            "/v1/organizations/overflow/invoices/2025-01-01T00:00:00Z?as_of_position=1000000",
            &app.admin,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("beyond"), "{body}");
    let (status, body) = app
        .get(
            "/v1/organizations/alpha/invoices/2025-01-01T00:00:00Z?as_of_position=1000000",
            &app.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["invoice"]["total"], "1.50", "{body}");

    // An invoice row the closer cannot use: an organization with no stream.
    let mut tx = database.begin_write().await.unwrap();
    tx.query(
        "INSERT INTO invoice (generation, org_id, period_start, period_end, currency, status, \
           version, position, total, document) \
         SELECT generation, 'ghost', period_start, period_end, currency, status, version, \
           position, total, document FROM invoice WHERE org_id = 'alpha'",
    )
    .execute()
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let tables = projections::tables_for(&database);
    let report = projections::closer::close_periods(
        store.as_ref(),
        tables.as_ref(),
        Utc::now(),
        projections::closer::DEFAULT_GRACE,
    )
    .await
    .unwrap();
    let finalized: Vec<&str> = report.finalized.iter().map(|k| k.org_id.as_str()).collect();
    for org in ["alpha", "gamma"] {
        assert!(finalized.contains(&org), "{org} not finalized: {report:?}");
    }
    assert!(
        !finalized.contains(&"beta") && !finalized.contains(&"overflow"),
        "{report:?}"
    );
    assert!(
        report.failed.iter().all(|f| f.org_id == "ghost") && !report.failed.is_empty(),
        "{report:?}"
    );

    let status = wait_caught_up(&app).await;
    assert_eq!(invoice_status(&app, "alpha", "2025-01").await, "finalized");
    assert_eq!(invoice_status(&app, "gamma", "2025-01").await, "finalized");
    // Parked: its invoices stay as last folded, and are not finalized.
    assert_eq!(invoice_status(&app, "beta", "2025-01").await, "open");
    assert_eq!(invoice_status(&app, "overflow", "2025-01").await, "open");
    let unclosed = status["unclosed_invoices"].as_array().unwrap();
    assert!(!unclosed.is_empty(), "{status}");
    assert!(unclosed.iter().all(|u| u["org_id"] == "ghost"), "{status}");
    assert!(
        unclosed[0]["error"]
            .as_str()
            .unwrap()
            .contains("OrganizationCreated"),
        "{status}"
    );

    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(metric(&text, "billing_projection_parked_organizations"), 2);
    assert!(metric(&text, "billing_invoices_unclosed") >= 1);

    // A rebuild isolates the same organizations and agrees with the live
    // projection on every other one.
    let report = projections::rebuild::rebuild(store.clone(), tables.clone(), &|_, _| {})
        .await
        .unwrap();
    assert!(report.invoices > 0);
    let status = wait_caught_up(&app).await;
    let mut parked = parked_orgs(&status);
    parked.sort();
    assert_eq!(parked, ["beta", "overflow"], "{status}");
    assert_eq!(invoice_status(&app, "alpha", "2025-01").await, "finalized");
    let verification = projections::rebuild::verify(store.as_ref(), tables.as_ref(), &|_, _| {})
        .await
        .unwrap();
    assert!(verification.matches(), "{verification:?}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_one_bad_organization_never_stops_the_others() {
    one_bad_organization_never_stops_the_others(testkit::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_one_bad_organization_never_stops_the_others() {
    one_bad_organization_never_stops_the_others(testkit::sqlite().await).await;
}
