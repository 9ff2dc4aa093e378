//! Webhook signing secrets encrypted at rest, on both backends: the stored
//! row never holds the secret, deliveries still verify (by an independent
//! Standard Webhooks check), a wrong key is a clear error and never an
//! attempt, the encryption key rotates, and rows written raw before
//! migration 0011 survive it and are encrypted at start.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::Mac;
use ledger::db::{Backend, Database, DbUuid};
use ledger::event::*;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use notifications::webhooks::endpoints::{self, NewEndpoint, Resealed};
use notifications::webhooks::sealing::Keyring;
use notifications::webhooks::signing::new_secret;
use notifications::webhooks::{DispatchOptions, Dispatcher};
use notifications::NotifyError;
use testkit::TestDb;

macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(testkit::postgres().await).await; }
        )+ }
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(testkit::sqlite().await).await; }
        )+ }
    };
}

both_backends!(
    the_stored_row_never_holds_the_secret_and_deliveries_still_verify,
    a_wrong_key_is_a_clear_error_and_never_an_attempt,
    rotating_the_encryption_key_moves_every_secret_to_the_first_key,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raw_secrets_from_before_migration_0011_survive_it_with_their_messages_and_are_encrypted_at_start_on_postgres(
) {
    raw_rows_from_before_0011(testkit::postgres_url().await, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raw_secrets_from_before_migration_0011_survive_it_with_their_messages_and_are_encrypted_at_start_on_sqlite(
) {
    let (url, dir) = testkit::sqlite_url();
    raw_rows_from_before_0011(url, Some(dir)).await;
}

type Got = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A receiver that records every delivery and answers 204.
async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// The Standard Webhooks check written from the specification.
fn verifies(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let signed = format!(
        "{}.{}.{body}",
        headers["webhook-id"].to_str().unwrap(),
        headers["webhook-timestamp"].to_str().unwrap(),
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

fn org() -> OrgId {
    OrgId::new("acme").unwrap()
}

async fn alert(db: &Database, threshold: i64, at: DateTime<Utc>) {
    let event = LedgerEvent::AlertTriggered(AlertTriggered {
        org_id: org(),
        period_start: at,
        period_end: at,
        kind: AlertKind::Actual,
        budget_version: 1,
        budget_amount: "100".parse().unwrap(),
        currency: ledger::money::Currency::USD,
        threshold: BudgetThreshold::Percent(threshold.into()),
        threshold_amount: threshold.into(),
        spend: threshold.into(),
        forecast: threshold.into(),
        invoice_version: 1,
        crossing: 1,
    });
    let new = NewEvent::from_domain(&event, at).unwrap();
    db.event_store()
        .append(&StreamId::alerts(&org()), ExpectedVersion::Any, vec![new])
        .await
        .unwrap();
}

async fn endpoint(db: &Database, keys: &Keyring, url: &str) -> (uuid::Uuid, String) {
    let secret = new_secret();
    let created = endpoints::create(
        db,
        keys,
        &NewEndpoint {
            url: url.to_owned(),
            description: "test".into(),
            event_types: vec!["alert.triggered".into()],
            secret: secret.clone(),
            after_position: 0,
        },
        0,
    )
    .await
    .unwrap();
    (created.endpoint_id, secret)
}

fn dispatcher(db: &Database, keys: &Keyring) -> Dispatcher {
    Dispatcher::new(
        db,
        DispatchOptions {
            schedule: vec![Duration::ZERO, Duration::from_secs(5)],
            lease: Duration::from_secs(60),
            keys: keys.clone(),
            ..DispatchOptions::default()
        },
    )
    .unwrap()
}

#[derive(sqlx::FromRow)]
struct Stored {
    plain_secret: Option<String>,
    sealed_secret: Option<String>,
}

/// The secret columns as stored, read straight from the table.
async fn stored(db: &Database, id: uuid::Uuid) -> Stored {
    db.query_as::<Stored>(
        "SELECT plain_secret, sealed_secret FROM webhook_endpoint WHERE webhook_endpoint_id = $1",
    )
    .bind(DbUuid(id))
    .fetch_one()
    .await
    .unwrap()
}

fn assert_hidden(row: &Stored, secret: &str, keys: &Keyring) {
    assert_eq!(row.plain_secret, None);
    let sealed = row.sealed_secret.as_deref().unwrap();
    let body = secret.strip_prefix("whsec_").unwrap();
    assert!(
        !sealed.contains(secret) && !sealed.contains(body),
        "{sealed}"
    );
    assert!(
        sealed.starts_with(&format!("v1:{}:", keys.sealing_key_id().unwrap())),
        "{sealed}"
    );
}

async fn the_stored_row_never_holds_the_secret_and_deliveries_still_verify(db: TestDb) {
    let keys = Keyring::generate();
    let (url, got) = receiver().await;
    let (id, secret) = endpoint(&db.db, &keys, &url).await;
    assert_hidden(&stored(&db.db, id).await, &secret, &keys);
    let now = Utc::now();
    alert(&db.db, 50, now).await;
    dispatcher(&db.db, &keys).run_until_idle(now).await.unwrap();
    {
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert!(verifies(&secret, &got[0].0, &got[0].1));
    }
    // A rotated signing secret is stored sealed too, and signs from then on.
    let rotated = new_secret();
    assert!(endpoints::rotate(&db.db, &keys, id, &rotated, 1)
        .await
        .unwrap());
    assert_hidden(&stored(&db.db, id).await, &rotated, &keys);
    alert(&db.db, 80, now).await;
    dispatcher(&db.db, &keys).run_until_idle(now).await.unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 2);
    assert!(verifies(&rotated, &got[1].0, &got[1].1));
    assert!(!verifies(&secret, &got[1].0, &got[1].1));
}

async fn a_wrong_key_is_a_clear_error_and_never_an_attempt(db: TestDb) {
    let keys = Keyring::generate();
    let (url, got) = receiver().await;
    let (id, secret) = endpoint(&db.db, &keys, &url).await;
    let now = Utc::now();
    alert(&db.db, 50, now).await;
    let wrong = Keyring::generate();
    let err = dispatcher(&db.db, &wrong)
        .run_until_idle(now)
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Seal(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("WEBHOOK_SECRET_KEY") && message.contains(&id.to_string()),
        "{message}"
    );
    assert!(got.lock().unwrap().is_empty(), "nothing was sent");
    assert!(
        endpoints::reseal(&db.db, &wrong).await.is_err(),
        "a start-up with the wrong key is refused"
    );
    // Nothing was counted against the receiver: with the right key, once
    // the lease has run out, the message goes out on its first attempt.
    let later = now + chrono::Duration::seconds(61);
    dispatcher(&db.db, &keys)
        .run_until_idle(later)
        .await
        .unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(verifies(&secret, &got[0].0, &got[0].1));
    let log = notifications::webhooks::messages::attempts(&db.db, id, None, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].attempt, 1);
}

async fn rotating_the_encryption_key_moves_every_secret_to_the_first_key(db: TestDb) {
    use secrecy::{ExposeSecret, SecretString};
    let (old_key, new_key) = (Keyring::generate_key(), Keyring::generate_key());
    let old = Keyring::parse(&old_key).unwrap();
    let new = Keyring::parse(&new_key).unwrap();
    let (url, got) = receiver().await;
    let (a, secret_a) = endpoint(&db.db, &old, &url).await;
    let (b, secret_b) = endpoint(&db.db, &old, &url).await;
    let both = Keyring::parse(&SecretString::from(format!(
        "{},{}",
        new_key.expose_secret(),
        old_key.expose_secret()
    )))
    .unwrap();
    // Both keys open; the first seals.
    assert_eq!(
        endpoints::reseal(&db.db, &both).await.unwrap(),
        Resealed {
            encrypted: 0,
            rekeyed: 2,
            current: 0
        }
    );
    assert_eq!(
        endpoints::reseal(&db.db, &both).await.unwrap().current,
        2,
        "idempotent"
    );
    assert_hidden(&stored(&db.db, a).await, &secret_a, &new);
    assert_hidden(&stored(&db.db, b).await, &secret_b, &new);
    // The old key alone no longer opens them; the new one alone does.
    let now = Utc::now();
    alert(&db.db, 50, now).await;
    assert!(dispatcher(&db.db, &old).run_until_idle(now).await.is_err());
    let later = now + chrono::Duration::seconds(61);
    dispatcher(&db.db, &new)
        .run_until_idle(later)
        .await
        .unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 2);
    let verified: usize = got
        .iter()
        .map(|(h, body)| usize::from(verifies(&secret_a, h, body) || verifies(&secret_b, h, body)))
        .sum();
    assert_eq!(verified, 2);
}

/// Apply only the migrations before 0011 to the empty database at `url`.
async fn migrate_to_0010(url: &str) {
    let backend = Backend::of_url(url).unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend.name());
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0011" {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    match backend {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Sqlite => {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .unwrap()
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

async fn raw_rows_from_before_0011(url: String, _dir: Option<tempfile::TempDir>) {
    migrate_to_0010(&url).await;
    let db = Database::connect(&url).await.unwrap();
    let (hook, got) = receiver().await;
    let id = uuid::Uuid::now_v7();
    let secret = new_secret();
    // As the previous version wrote them: the raw secret, a delivered
    // message and its attempt.
    let mut tx = db.begin_write().await.unwrap();
    tx.query(
        "INSERT INTO webhook_endpoint (webhook_endpoint_id, url, description, event_types, \
           secret, status, after_position, created_at, updated_at) \
         VALUES ($1, $2, '', '[\"alert.triggered\"]', $3, 'enabled', 0, 0, 0)",
    )
    .bind(DbUuid(id))
    .bind(hook.clone())
    .bind(secret.clone())
    .execute()
    .await
    .unwrap();
    tx.query(
        "INSERT INTO webhook_message (webhook_endpoint_id, webhook_id, event_position, \
           event_type, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, 'msg_old', 0, 'alert.triggered', '{}', 'delivered', 1, 0, 0)",
    )
    .bind(DbUuid(id))
    .execute()
    .await
    .unwrap();
    tx.query(
        "INSERT INTO webhook_attempt (webhook_message_id, webhook_endpoint_id, attempt, \
           started_at, latency_ms, response_status, outcome) \
         SELECT webhook_message_id, $1, 1, 0, 3, 204, 'delivered' FROM webhook_message \
         WHERE webhook_id = 'msg_old'",
    )
    .bind(DbUuid(id))
    .execute()
    .await
    .unwrap();
    tx.commit().await.unwrap();

    db.migrate().await.unwrap();
    let row = stored(&db, id).await;
    assert_eq!(row.plain_secret.as_deref(), Some(secret.as_str()));
    assert_eq!(row.sealed_secret, None);
    let keys = Keyring::generate();
    let log = notifications::webhooks::messages::attempts(&db, id, None, 10)
        .await
        .unwrap();
    assert_eq!(
        log.len(),
        1,
        "the old message and attempt survived: {log:?}"
    );
    assert_eq!(
        endpoints::reseal(&db, &keys).await.unwrap(),
        Resealed {
            encrypted: 1,
            rekeyed: 0,
            current: 0
        }
    );
    assert_hidden(&stored(&db, id).await, &secret, &keys);
    let now = Utc::now();
    alert(&db, 50, now).await;
    dispatcher(&db, &keys).run_until_idle(now).await.unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(verifies(&secret, &got[0].0, &got[0].1));
    db.close().await;
}
