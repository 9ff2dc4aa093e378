//! The `billing` binary as an operator runs it.

use std::process::{Command, Output};

fn billing(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("BENCH_DATABASE_URL")
        .output()
        .expect("the billing binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn migrate_then_record_usage_and_read_it_back() {
    let (url, _dir) = testkit::sqlite_url();
    let out = billing(&url, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("migrations applied (sqlite"));

    // The CLI obeys the API's rules: an unregistered organization is refused.
    let ghost = billing(
        &url,
        &[
            "usage",
            "record",
            "--org",
            "ghost",
            "--meter",
            "cpu_seconds",
            "--quantity",
            "1",
        ],
    );
    assert!(!ghost.status.success());
    assert!(
        stderr(&ghost).contains("organization `ghost` is not registered"),
        "{}",
        stderr(&ghost)
    );

    // A registered organization with a priced meter (anchored 40 days ago).
    let db = ledger::db::Database::connect(&url).await.unwrap();
    let anchor = testkit::seed::past_anchor(chrono::Utc::now());
    testkit::seed::seed(db.event_store().as_ref(), "acme", 1, 0, anchor)
        .await
        .unwrap();
    db.close().await;

    let record = [
        "usage",
        "record",
        "--org",
        "acme-0",
        "--meter",
        "cpu_seconds",
        "--quantity",
        "12.5",
        "--idempotency-key",
        "job-1",
        "--attr",
        "app=web",
    ];
    let first = billing(&url, &record);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).starts_with("accepted: event "));
    let again = billing(&url, &record);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).starts_with("duplicate: idempotency key already stored"));

    let listed = billing(
        &url,
        &[
            "events",
            "--org",
            "acme-0",
            "--type",
            "UsageRecorded",
            "--json",
        ],
    );
    assert!(listed.status.success(), "{}", stderr(&listed));
    let lines: Vec<serde_json::Value> = stdout(&listed)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "the duplicate stored nothing");
    assert_eq!(lines[0]["event_type"], "UsageRecorded");
    assert_eq!(lines[0]["payload"]["quantity"], "12.5");
    assert_eq!(lines[0]["payload"]["attributes"]["app"], "web");
    assert_eq!(lines[0]["idempotency_key"], "job-1");
}

#[test]
fn bad_usage_input_is_refused_with_a_message_and_stores_nothing() {
    let (url, _dir) = testkit::sqlite_url();
    for quantity in ["NaN", "-3", "1e20", "1e30", "01", "1.0000000000001"] {
        let complaint = format!("(got {quantity:?})");
        let out = billing(
            &url,
            &[
                "usage",
                "record",
                "--org",
                "acme",
                "--meter",
                "cpu",
                "--quantity",
                quantity,
            ],
        );
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("--quantity") && err.contains(&complaint),
            "{quantity}: {err}"
        );
    }
    let out = billing(
        &url,
        &[
            "usage",
            "record",
            "--org",
            "has space",
            "--meter",
            "cpu",
            "--quantity",
            "1",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("rejected (org_id)"),
        "{}",
        stderr(&out)
    );
    let listed = billing(&url, &["events", "--json"]);
    assert_eq!(stdout(&listed).trim(), "");
}

#[test]
fn unsupported_database_url_names_the_problem() {
    let out = billing("mysql://localhost/ledger", &["migrate"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unsupported DATABASE_URL"),
        "{}",
        stderr(&out)
    );
}

fn last_json_line(output: &Output) -> serde_json::Value {
    let text = stdout(output);
    let last = text.lines().last().expect("some output");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"))
}

fn assert_append_bench_line(line: &serde_json::Value, backend: &str, events: u64) {
    assert_eq!(line["bench"], "append");
    assert_eq!(line["backend"], backend);
    assert_eq!(line["events"], events);
    let ours = line["events_per_s"].as_f64().unwrap();
    let base = line["baseline_per_s"].as_f64().unwrap();
    let ratio = line["ratio"].as_f64().unwrap();
    assert!(ours > 0.0 && base > 0.0);
    assert!((ratio - ours / base).abs() < 0.01, "{line}");
}

#[test]
fn bench_append_on_sqlite_ends_with_its_json_line() {
    let out = billing(
        "sqlite://unused.db",
        &[
            "bench",
            "append",
            "--backend",
            "sqlite",
            "--events",
            "3000",
            "--batch",
            "500",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_append_bench_line(&last_json_line(&out), "sqlite", 3000);
}

#[test]
fn bench_append_on_postgres_ends_with_its_json_line() {
    let admin = testkit::postgres_admin_url();
    let out = Command::new(env!("CARGO_BIN_EXE_billing"))
        .args([
            "bench",
            "append",
            "--backend",
            "postgres",
            "--events",
            "3000",
            "--batch",
            "500",
        ])
        .env("BENCH_DATABASE_URL", &admin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_append_bench_line(&last_json_line(&out), "postgres", 3000);
}

#[test]
fn bench_append_on_postgres_without_a_server_says_how_to_give_one() {
    let out = billing(
        "sqlite://unused.db",
        &["bench", "append", "--backend", "postgres", "--events", "10"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("BENCH_DATABASE_URL"),
        "{}",
        stderr(&out)
    );
}
