//! Operating the invoice projection from the command line.

use std::process::{Command, Output};

use chrono::{Duration, TimeZone, Utc};
use ledger::event::{OrganizationCreated, PriceSet, UsageRecorded};
use ledger::money::Currency;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use serde_json::json;

fn billing(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("the billing binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One org on a per-unit price with usage in January 2025 (long closed).
async fn seed(db: &testkit::TestDb) {
    let store = db.store();
    let anchor = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let org = OrgId::new("acme").unwrap();
    let price = LedgerEvent::PriceSet(PriceSet {
        price_id: "cpu".into(),
        meter: "cpu_seconds".into(),
        currency: Currency::USD,
        unit: "CPU-second".into(),
        description: "CPU".into(),
        spec: serde_json::from_value(json!({"model": {"type": "per_unit", "unit_price": "0.01"}}))
            .unwrap(),
        effective_from: anchor,
    });
    let created = LedgerEvent::OrganizationCreated(OrganizationCreated {
        org_id: org.clone(),
        name: "Acme".into(),
        currency: Currency::USD,
        billing_anchor: anchor,
        stripe_customer_id: None,
    });
    for (stream, event) in [
        (StreamId::catalog(), price),
        (StreamId::organization(&org), created),
    ] {
        let new = NewEvent::from_domain(&event, anchor).unwrap();
        store
            .append(&stream, ExpectedVersion::Any, vec![new])
            .await
            .unwrap();
    }
    for day in 0..10 {
        let usage = LedgerEvent::UsageRecorded(UsageRecorded {
            org_id: org.clone(),
            meter: "cpu_seconds".into(),
            quantity: "100".parse().unwrap(),
            window: None,
            source: "test".into(),
            attributes: Default::default(),
        });
        let new = NewEvent::from_domain(&usage, anchor + Duration::days(day)).unwrap();
        store
            .append(&StreamId::usage(&org), ExpectedVersion::Any, vec![new])
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn rebuild_verify_detects_drift_and_rebuild_repairs_it() {
    for db in [testkit::postgres().await, testkit::sqlite().await] {
        verify_and_repair(db).await;
    }
}

async fn verify_and_repair(db: testkit::TestDb) {
    seed(&db).await;
    let out = billing(&db.url, &["project"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("12 events folded"), "{}", text(&out));

    let out = billing(&db.url, &["rebuild", "--verify"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("matches a rebuild"));

    let tamper = match db.db.backend() {
        ledger::db::Backend::Postgres => {
            "UPDATE invoice SET document = jsonb_set(document, '{total}', '\"0.01\"')"
        }
        ledger::db::Backend::Sqlite => {
            "UPDATE invoice SET document = json_set(document, '$.total', '0.01')"
        }
    };
    db.db.query(tamper).execute().await.unwrap();
    let out = billing(&db.url, &["rebuild", "--verify"]);
    assert!(!out.status.success(), "drift must fail verification");
    assert!(text(&out).contains("1 invoice(s) differ"), "{}", text(&out));
    assert!(text(&out).contains("acme 2025-01-01"), "{}", text(&out));

    let out = billing(&db.url, &["rebuild"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("12 events, 1 invoices"),
        "{}",
        text(&out)
    );
    // Where the time went, for the operator who runs it.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let phases = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("replay "))
        .unwrap_or_else(|| panic!("no phases line: {stdout}"));
    let named: Vec<&str> = phases
        .split(", ")
        .map(|p| p.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        named,
        ["replay", "render", "write", "catch-up", "swap"],
        "{phases}"
    );
    let out = billing(&db.url, &["rebuild", "--verify"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn close_periods_finalizes_ended_periods_once() {
    for db in [testkit::postgres().await, testkit::sqlite().await] {
        close_once(db).await;
    }
}

async fn close_once(db: testkit::TestDb) {
    seed(&db).await;
    let out = billing(&db.url, &["close-periods"]);
    assert!(out.status.success(), "{}", text(&out));
    // January 2025 onwards: every period up to now ends up finalized over
    // successive passes; the first pass finalizes January.
    assert!(text(&out).contains("acme 2025-01-01"), "{}", text(&out));
    let again = billing(&db.url, &["close-periods"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        !text(&again).contains("acme 2025-01-01"),
        "{}",
        text(&again)
    );
}

#[test]
fn rebuild_of_an_unknown_projection_is_refused() {
    let (url, _dir) = testkit::sqlite_url();
    let out = billing(&url, &["rebuild", "payments"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown projection `payments`"),
        "{}",
        text(&out)
    );
}

#[test]
fn bench_rebuild_ends_with_its_json_line() {
    let postgres = testkit::postgres_admin_url();
    for backend in ["sqlite", "postgres"] {
        let mut args = vec![
            "bench",
            "rebuild",
            "--backend",
            backend,
            "--events",
            "2000",
            "--orgs",
            "20",
            "--rounds",
            "2",
            "--versus-orgs",
            "5",
        ];
        if backend == "postgres" {
            args.extend(["--postgres-url", postgres.as_str()]);
        }
        let out = billing("sqlite://unused.db", &args);
        assert!(out.status.success(), "{backend}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(line["bench"], "rebuild");
        assert_eq!(line["backend"], backend);
        assert_eq!(line["events"], 2000 + 20 + 4, "usage + orgs + prices");
        let ratio = line["ratio"].as_f64().unwrap();
        let expected =
            line["events_per_s"].as_f64().unwrap() / line["baseline_per_s"].as_f64().unwrap();
        assert!((ratio - expected).abs() < 0.01, "{backend}: {line}");
        assert_eq!(line["rounds"], 2, "{line}");
        // The same usage over 5 organizations, rebuilt in the same rounds
        // from a database of its own, and the rate at 20 against it.
        let versus = &line["versus"];
        assert_eq!(versus["orgs"], 5, "{line}");
        assert_eq!(versus["events"], 2000 + 5 + 4, "{line}");
        let expected =
            line["events_per_s"].as_f64().unwrap() / versus["events_per_s"].as_f64().unwrap();
        let against = versus["ratio"].as_f64().unwrap();
        assert!((against - expected).abs() < 0.01, "{backend}: {line}");
        assert!(stdout.contains("rate at 20 orgs vs at 5"), "{stdout}");
        // PostgreSQL also reports the rebuild against a binary COPY of the
        // rows; SQLite has no such thing.
        match backend {
            "postgres" => {
                let copy = line["copy_scan_per_s"].as_f64().unwrap();
                let against = line["ratio_vs_copy"].as_f64().unwrap();
                let expected = line["events_per_s"].as_f64().unwrap() / copy;
                assert!((against - expected).abs() < 0.01, "{line}");
                assert!(stdout.contains("ratio against the COPY"), "{stdout}");
            }
            _ => assert!(line["copy_scan_per_s"].is_null(), "{line}"),
        }
    }
}

#[test]
fn bench_ingest_ends_with_its_json_line() {
    let out = billing(
        "sqlite://unused.db",
        &[
            "bench",
            "ingest",
            "--backend",
            "sqlite",
            "--events",
            "2000",
            "--batch",
            "500",
            "--clients",
            "2",
            "--orgs",
            "10",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(line["bench"], "ingest");
    assert_eq!(line["events"], 2000);
    let expected =
        line["events_per_s"].as_f64().unwrap() / line["baseline_per_s"].as_f64().unwrap();
    assert!((line["ratio"].as_f64().unwrap() - expected).abs() < 0.01);
}
