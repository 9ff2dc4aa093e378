//! The webhook dispatcher on both backends, against a real HTTP receiver
//! run by the test; every signature checked by an independent
//! implementation of the Standard Webhooks algorithm written here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::Mac;
use ledger::event::*;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use notifications::webhooks::endpoints::{self, NewEndpoint};
use notifications::webhooks::sealing::Keyring;
use notifications::webhooks::signing::new_secret;
use notifications::webhooks::{DispatchOptions, Dispatcher};
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
    a_dispatcher_killed_mid_delivery_delivers_again_with_the_same_webhook_id,
    a_receiver_that_is_down_then_up_gets_everything_and_a_rebuild_delivers_nothing_again,
    an_endpoint_failing_the_whole_schedule_is_disabled_visibly_and_redirects_are_not_followed,
    redeliver_and_replay_send_the_same_webhook_ids_again,
);

/// What the receiver answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Down,
    Hang,
    Redirect,
}

#[derive(Clone)]
struct Receiver {
    mode: Arc<Mutex<Mode>>,
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    url: String,
}

impl Receiver {
    async fn start() -> Self {
        let mode = Arc::new(Mutex::new(Mode::Up));
        let got: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
        let (m, g) = (mode.clone(), got.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (m, g) = (m.clone(), g.clone());
                async move {
                    g.lock().unwrap().push((headers, body));
                    let mode = *m.lock().unwrap();
                    match mode {
                        Mode::Up => (StatusCode::NO_CONTENT, HeaderMap::new()),
                        Mode::Down => (StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new()),
                        Mode::Redirect => {
                            let mut h = HeaderMap::new();
                            h.insert("location", "http://127.0.0.1:1/elsewhere".parse().unwrap());
                            (StatusCode::TEMPORARY_REDIRECT, h)
                        }
                        Mode::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            (StatusCode::NO_CONTENT, HeaderMap::new())
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { mode, got, url }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn ids(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned())
            .collect()
    }

    /// Every delivery received, each checked against `secret`.
    fn verified(&self, secret: &str) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(headers, body)| {
                verify(secret, headers, body);
                serde_json::from_str(body).unwrap()
            })
            .collect()
    }
}

/// The Standard Webhooks check, from the specification: HMAC-SHA256 keyed
/// with the base64-decoded secret after `whsec_`, over `id.timestamp.body`,
/// base64, compared with each `v1,` signature of the header.
fn verify(secret: &str, headers: &HeaderMap, body: &str) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = headers["webhook-id"].to_str().unwrap();
    let timestamp = headers["webhook-timestamp"].to_str().unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let header = headers["webhook-signature"].to_str().unwrap();
    assert!(
        header.split(' ').any(|s| s == format!("v1,{expected}")),
        "signature {header} does not verify"
    );
    let ts: i64 = timestamp.parse().unwrap();
    assert!(
        (Utc::now().timestamp() - ts).abs() < 24 * 3600 * 30,
        "timestamp {ts}"
    );
}

fn org() -> OrgId {
    OrgId::new("acme").unwrap()
}

async fn alert(db: &TestDb, threshold: i64, at: DateTime<Utc>) {
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
    db.store()
        .append(&StreamId::alerts(&org()), ExpectedVersion::Any, vec![new])
        .await
        .unwrap();
}

/// The key the test's secrets are sealed with.
fn keys() -> Keyring {
    static KEYS: std::sync::OnceLock<Keyring> = std::sync::OnceLock::new();
    KEYS.get_or_init(Keyring::generate).clone()
}

async fn endpoint(db: &TestDb, url: &str) -> (uuid::Uuid, String) {
    let secret = new_secret();
    let created = endpoints::create(
        &db.db,
        &keys(),
        &NewEndpoint {
            url: url.to_owned(),
            description: "test".into(),
            event_types: vec!["alert.triggered".into(), "invoice.finalized".into()],
            secret: secret.clone(),
            after_position: 0,
        },
        0,
    )
    .await
    .unwrap();
    (created.endpoint_id, secret)
}

fn fast() -> DispatchOptions {
    DispatchOptions {
        schedule: vec![
            Duration::ZERO,
            Duration::from_secs(5),
            Duration::from_secs(300),
        ],
        timeout: Duration::from_secs(30),
        lease: Duration::from_secs(60),
        keys: keys(),
        ..DispatchOptions::default()
    }
}

async fn a_dispatcher_killed_mid_delivery_delivers_again_with_the_same_webhook_id(db: TestDb) {
    let receiver = Receiver::start().await;
    let (_, secret) = endpoint(&db, &receiver.url).await;
    let now = Utc::now();
    alert(&db, 50, now).await;
    receiver.set(Mode::Hang);
    let doomed = Dispatcher::new(&db.db, fast()).unwrap();
    let task = tokio::spawn(async move { doomed.run_until_idle(now).await });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.ids().is_empty() {
        assert!(std::time::Instant::now() < deadline, "never attempted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    receiver.set(Mode::Up);
    // Within the lease nobody else takes it; once it has run out, another
    // dispatcher delivers it again, with the same id and body.
    let survivor = Dispatcher::new(&db.db, fast()).unwrap();
    survivor.run_until_idle(now).await.unwrap();
    assert_eq!(receiver.ids().len(), 1);
    survivor
        .run_until_idle(now + chrono::Duration::seconds(61))
        .await
        .unwrap();
    let ids = receiver.ids();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], ids[1]);
    let bodies = receiver.verified(&secret);
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[0]["type"], "alert.triggered");
    assert_eq!(bodies[0]["data"]["payload"]["threshold"]["percent"], "50");
}

async fn a_receiver_that_is_down_then_up_gets_everything_and_a_rebuild_delivers_nothing_again(
    db: TestDb,
) {
    let receiver = Receiver::start().await;
    let (id, secret) = endpoint(&db, &receiver.url).await;
    let now = Utc::now();
    for t in [10, 20, 30] {
        alert(&db, t, now).await;
    }
    receiver.set(Mode::Down);
    let dispatcher = Dispatcher::new(&db.db, fast()).unwrap();
    dispatcher.run_until_idle(now).await.unwrap();
    assert_eq!(receiver.ids().len(), 3);
    // Not due again before the schedule says so.
    dispatcher
        .run_until_idle(now + chrono::Duration::seconds(4))
        .await
        .unwrap();
    assert_eq!(receiver.ids().len(), 3);
    receiver.set(Mode::Up);
    dispatcher
        .run_until_idle(now + chrono::Duration::seconds(5))
        .await
        .unwrap();
    let ids = receiver.ids();
    assert_eq!(ids.len(), 6);
    let mut first: Vec<_> = ids[..3].to_vec();
    let mut second: Vec<_> = ids[3..].to_vec();
    first.sort();
    second.sort();
    assert_eq!(first, second, "the same three messages, again");
    receiver.verified(&secret);
    let log = notifications::webhooks::messages::attempts(&db.db, id, None, 100)
        .await
        .unwrap();
    assert_eq!(log.iter().filter(|a| a.outcome == "delivered").count(), 3);
    assert_eq!(
        log.iter()
            .filter(|a| a.response_status == Some(503))
            .count(),
        3
    );

    // A rebuild of the projections gives the dispatcher nothing to send.
    projections::projector_for(&db.db).catch_up().await.unwrap();
    projections::rebuild::rebuild(db.store(), projections::tables_for(&db.db), &|_, _| {})
        .await
        .unwrap();
    dispatcher
        .run_until_idle(now + chrono::Duration::hours(30))
        .await
        .unwrap();
    assert_eq!(receiver.ids().len(), 6);
}

async fn an_endpoint_failing_the_whole_schedule_is_disabled_visibly_and_redirects_are_not_followed(
    db: TestDb,
) {
    let receiver = Receiver::start().await;
    let (id, _) = endpoint(&db, &receiver.url).await;
    let now = Utc::now();
    alert(&db, 50, now).await;
    receiver.set(Mode::Redirect);
    let dispatcher = Dispatcher::new(&db.db, fast()).unwrap();
    for later in [0, 5, 305] {
        dispatcher
            .run_until_idle(now + chrono::Duration::seconds(later))
            .await
            .unwrap();
    }
    // Three attempts (the schedule's length), none followed the redirect.
    assert_eq!(receiver.ids().len(), 3);
    let endpoint = endpoints::get(&db.db, id).await.unwrap().unwrap();
    assert!(!endpoint.enabled);
    assert!(
        endpoint
            .disabled_reason
            .as_deref()
            .unwrap()
            .contains("all 3 attempts"),
        "{endpoint:?}"
    );
    let log = notifications::webhooks::messages::attempts(&db.db, id, None, 10)
        .await
        .unwrap();
    assert_eq!(log[0].message_status, "failed");
    assert!(log[0]
        .error
        .as_deref()
        .unwrap()
        .contains("redirects are not followed"));
    // Disabled: nothing more is attempted.
    alert(&db, 60, now).await;
    dispatcher
        .run_until_idle(now + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(receiver.ids().len(), 3);
}

async fn redeliver_and_replay_send_the_same_webhook_ids_again(db: TestDb) {
    let receiver = Receiver::start().await;
    let (id, secret) = endpoint(&db, &receiver.url).await;
    let now = Utc::now();
    alert(&db, 10, now).await;
    alert(&db, 20, now).await;
    let dispatcher = Dispatcher::new(&db.db, fast()).unwrap();
    dispatcher.run_until_idle(now).await.unwrap();
    let ids = receiver.ids();
    assert_eq!(ids.len(), 2);
    assert!(
        notifications::webhooks::messages::redeliver(&db.db, id, &ids[0], 0)
            .await
            .unwrap()
    );
    dispatcher.run_until_idle(now).await.unwrap();
    assert_eq!(receiver.ids()[2], ids[0]);
    let replayed = notifications::webhooks::messages::replay(&db.db, db.store().as_ref(), id, 0, 0)
        .await
        .unwrap();
    assert_eq!(replayed, Some(2));
    dispatcher.run_until_idle(now).await.unwrap();
    let all = receiver.ids();
    assert_eq!(all.len(), 5);
    let mut replay = all[3..].to_vec();
    replay.sort();
    let mut original = ids.clone();
    original.sort();
    assert_eq!(replay, original);
    receiver.verified(&secret);
}
