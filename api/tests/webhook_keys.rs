//! The key that encrypts webhook signing secrets, as an operator meets it:
//! a newcomer's `billing serve` on SQLite needs no variable (a private key
//! file appears beside the database), PostgreSQL refuses to start without
//! `WEBHOOK_SECRET_KEY` and says so, and `billing webhooks rotate-key`
//! moves the stored secrets to a new key.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ledger::db::Database;
use notifications::webhooks::sealing::Keyring;
use secrecy::SecretString;

fn billing(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("WEBHOOK_SECRET_KEY")
        .env_remove("STRIPE_API_KEY")
        .output()
        .unwrap()
}

/// `billing serve` without WEBHOOK_SECRET_KEY; the child, its port and the
/// log lines before it listened.
fn serve(url: &str) -> (std::process::Child, u16, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
        .env("DATABASE_URL", url)
        .env_remove("WEBHOOK_SECRET_KEY")
        .env_remove("STRIPE_API_KEY")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
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
    std::thread::spawn(move || for _ in lines {});
    (child, port, seen)
}

fn stop(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[derive(sqlx::FromRow)]
struct Sealed {
    sealed_secret: Option<String>,
}

async fn sealed_secrets(url: &str) -> Vec<String> {
    let db = Database::connect(url).await.unwrap();
    let rows = db
        .query_as::<Sealed>("SELECT sealed_secret FROM webhook_endpoint")
        .fetch_all()
        .await
        .unwrap();
    db.close().await;
    rows.into_iter().map(|r| r.sealed_secret.unwrap()).collect()
}

fn key_file_ring(path: &std::path::Path) -> Keyring {
    Keyring::parse(&SecretString::from(std::fs::read_to_string(path).unwrap())).unwrap()
}

#[tokio::test]
async fn serve_on_postgres_without_webhook_secret_key_refuses_to_start_naming_it() {
    let url = testkit::postgres_url().await;
    let out = billing(&url, &["serve", "--bind", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WEBHOOK_SECRET_KEY is not set"), "{err}");
}

#[tokio::test]
async fn serve_on_a_sqlite_file_makes_a_private_key_file_and_rotate_key_moves_secrets_to_a_new_key()
{
    let (url, dir) = testkit::sqlite_url();
    let key_file = dir.path().join("ledger.db.webhook-key");
    let created = billing(
        &url,
        &["token", "create", "--role", "admin", "--name", "ops"],
    );
    assert!(created.status.success());
    let token = String::from_utf8_lossy(&created.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();

    let (child, port, seen) = serve(&url);
    assert!(
        seen.iter()
            .any(|l| l.contains("generated a key") && l.contains("ledger.db.webhook-key")),
        "serve logs the key file it made: {seen:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/webhook-endpoints"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"url": "https://platform.example/hook", "event_types": ["alert.triggered"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap().to_owned();
    stop(child);
    let first = key_file_ring(&key_file);
    let stored = sealed_secrets(&url).await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(secret.trim_start_matches("whsec_")));
    assert_eq!(Keyring::envelope_key_id(&stored[0]), first.sealing_key_id());

    let rotated = billing(&url, &["webhooks", "rotate-key"]);
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(
        String::from_utf8_lossy(&rotated.stdout).contains("1 re-encrypted"),
        "{}",
        String::from_utf8_lossy(&rotated.stdout)
    );
    let second = key_file_ring(&key_file);
    assert_ne!(second.key_ids(), first.key_ids());
    assert_eq!(second.key_ids().len(), 1, "the file keeps only the new key");
    let stored = sealed_secrets(&url).await;
    assert_eq!(
        Keyring::envelope_key_id(&stored[0]),
        second.sealing_key_id()
    );
    let endpoint_id: uuid::Uuid = body["endpoint"]["endpoint_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(
        second
            .open(endpoint_id, &stored[0])
            .unwrap()
            .expose_secret(),
        secret
    );
    // The next start opens everything with the rotated file.
    let (child, _, _) = serve(&url);
    stop(child);
}
