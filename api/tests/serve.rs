//! `billing serve` and `billing token` as an operator runs them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The key encrypting webhook secrets: required on PostgreSQL (a SQLite
/// file gets a key file of its own).
const WEBHOOK_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn billing(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("WEBHOOK_SECRET_KEY", WEBHOOK_KEY)
        .env_remove("STRIPE_API_KEY")
        .output()
        .unwrap()
}

/// Start `billing serve` on a free port; returns the child and the port
/// read from its log.
fn serve(url: &str) -> (std::process::Child, u16) {
    let (child, port, seen) = serve_with(url, &[]);
    assert!(
        seen.iter()
            .any(|l| l.contains("Stripe sync is off") && l.contains("STRIPE_API_KEY is not set")),
        "serve must say why sync is off: {seen:?}"
    );
    (child, port)
}

/// Start `billing serve` with `extra` flags; the child, its port and the
/// log lines before it listened.
fn serve_with(url: &str, extra: &[&str]) -> (std::process::Child, u16, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
        .args(extra)
        .env("DATABASE_URL", url)
        .env("WEBHOOK_SECRET_KEY", WEBHOOK_KEY)
        .env_remove("STRIPE_API_KEY")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let port = loop {
        assert!(Instant::now() < deadline, "serve did not start: {seen:?}");
        let line = lines.next().expect("serve exited early").unwrap();
        let log: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(port) = log["fields"]["port"].as_u64() {
            break port as u16;
        }
        seen.push(line);
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port, seen)
}

#[tokio::test]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    let (url, _dir) = testkit::sqlite_url();
    let (mut child, port) = serve(&url);
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = client
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
}

/// A fresh database URL (not migrated) on each backend.
async fn urls() -> Vec<(String, Option<tempfile::TempDir>)> {
    let (sqlite, dir) = testkit::sqlite_url();
    vec![(testkit::postgres_url().await, None), (sqlite, Some(dir))]
}

#[tokio::test]
async fn tokens_are_listed_without_secrets_and_revoked_tokens_stop_working() {
    for (url, _dir) in urls().await {
        tokens_round_trip(&url).await;
    }
}

async fn tokens_round_trip(url: &str) {
    let url = url.to_owned();
    let created = billing(
        &url,
        &["token", "create", "--role", "support", "--name", "alice"],
    );
    assert!(created.status.success());
    let token = String::from_utf8_lossy(&created.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("blt_"));
    let ingest = billing(
        &url,
        &["token", "create", "--role", "ingest", "--name", "flyd"],
    );
    let ingest = String::from_utf8_lossy(&ingest.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let refused = billing(&url, &["token", "create", "--role", "org"]);
    assert!(!refused.status.success(), "an org token needs --org");

    let listed = String::from_utf8_lossy(&billing(&url, &["token", "list"]).stdout).into_owned();
    assert!(listed.contains("alice") && listed.contains("support") && listed.contains("active"));
    assert!(!listed.contains(&token), "the secret is never listed");
    let id = listed
        .lines()
        .find(|l| l.contains("alice"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    let (mut child, port) = serve(&url);
    let client = reqwest::Client::new();
    let get = || {
        client
            .get(format!("http://127.0.0.1:{port}/v1/organizations"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    assert!(billing(&url, &["token", "revoke", &id]).status.success());
    assert_eq!(get().await.unwrap().status(), 401);
    assert!(
        !billing(&url, &["token", "revoke", &id]).status.success(),
        "already revoked"
    );
    let listed = String::from_utf8_lossy(&billing(&url, &["token", "list"]).stdout).into_owned();
    assert!(listed
        .lines()
        .any(|l| l.contains(&id) && l.contains("revoked")));

    // A body over the limit is refused before it is read, as JSON.
    let huge = format!("{{\"records\": [\"{}\"]}}", "x".repeat(17 * 1024 * 1024));
    let response = client
        .post(format!("http://127.0.0.1:{port}/v1/usage"))
        .bearer_auth(&ingest)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "body_too_large_or_unreadable",
        "{body}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_read_only_server_checks_the_schema_serves_reads_and_refuses_writes() {
    let expected = testkit::sqlite().await.db.expected_schema_version();
    for (url, _dir) in urls().await {
        if let Some(path) = url.strip_prefix("sqlite://") {
            std::fs::write(path, b"").unwrap(); // an empty database file
        }
        // Never migrated: it refuses to start and says why, naming both versions.
        let out = billing(&url, &["serve", "--read-only", "--bind", "127.0.0.1:0"]);
        assert!(!out.status.success(), "a read-only server must not migrate");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("schema is at version none (never migrated)")
                && err.contains(&format!("this build expects version {expected}")),
            "{err}"
        );

        assert!(billing(&url, &["migrate"]).status.success());
        let token = billing(
            &url,
            &["token", "create", "--role", "admin", "--name", "ops"],
        );
        let token = String::from_utf8_lossy(&token.stdout)
            .lines()
            .last()
            .unwrap()
            .to_owned();
        let (mut child, port, seen) = serve_with(&url, &["--read-only"]);
        assert!(
            !seen.iter().any(|l| l.contains("projection runner started")),
            "a replica runs no pipeline: {seen:?}"
        );
        let client = reqwest::Client::new();
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        let orgs = client
            .get(format!("http://127.0.0.1:{port}/v1/organizations"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(orgs.status(), 200);
        let write = client
            .post(format!("http://127.0.0.1:{port}/v1/organizations"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"org_id": "acme", "name": "Acme", "currency": "USD"}))
            .send()
            .await
            .unwrap();
        assert_eq!(write.status(), 503);
        let body: serde_json::Value = write.json().await.unwrap();
        assert_eq!(body["error"]["code"], "read_only", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("primary"),
            "{body}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
