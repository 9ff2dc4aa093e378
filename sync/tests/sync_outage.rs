//! A Stripe outage with a backlog: the circuit breaker opens, the request rate falls to
//! one probe per interval whatever the backlog, the state reads "Stripe unavailable
//! since …", and once Stripe answers again the backlog drains — no duplicates, nothing
//! parked, totals to the cent. On both backends.

mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use stripe_fake::{FakeConfig, Fault};
use sync::breaker::BreakerConfig;
use sync_support::{env, options, Backend};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn an_outage_on_postgres_falls_to_the_probe_rate_then_the_backlog_drains() {
    outage(Backend::Postgres).await;
}

#[tokio::test]
async fn an_outage_on_sqlite_falls_to_the_probe_rate_then_the_backlog_drains() {
    outage(Backend::Sqlite).await;
}

const PROBE: Duration = Duration::from_millis(500);
const MEASURED: Duration = Duration::from_secs(3);

async fn outage(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    env.seed_closed("out", 40, 3).await;
    // Stripe is down: every request gets a 500 until the faults are cleared.
    env.fake.inject(Fault::server_error().times(u32::MAX));
    let mut opts = options();
    opts.workers = 6;
    opts.breaker = BreakerConfig {
        failures: 5,
        window: Duration::from_secs(30),
        probe_interval: PROBE,
    };
    let projector = Arc::new(env.projector(opts));
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(sync::daemon::run(projector.clone(), shutdown.clone()));

    let deadline = Instant::now() + Duration::from_secs(20);
    while projector.stripe_health().available {
        assert!(Instant::now() < deadline, "the breaker never opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health = projector.stripe_health();
    assert!(
        health.message().starts_with("Stripe unavailable since "),
        "{health:?}"
    );
    let since = health.unavailable_since.expect("since when");

    // The measured stretch of the outage: only probes, whatever the backlog.
    let before = env.fake.requests().len();
    tokio::time::sleep(MEASURED).await;
    let during = env.fake.requests().len() - before;
    let floor = (MEASURED.as_millis() / PROBE.as_millis()) as usize;
    assert!(
        (1..=floor + 1).contains(&during),
        "{during} requests in {MEASURED:?} of outage; the floor is one per {PROBE:?}"
    );
    let health = projector.stripe_health();
    assert_eq!(health.unavailable_since, Some(since), "{health:?}");
    assert!(health.probes >= 1, "{health:?}");
    let summary = sync::status::summary(&env.db.db).await.unwrap();
    assert!(summary.final_pending > 20, "a backlog remains: {summary:?}");

    // Stripe is back: the next probe closes the breaker and the backlog drains.
    env.fake.clear_faults();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = sync::status::summary(&env.db.db).await.unwrap();
        if s.final_pending == 0 && s.retrying == 0 {
            assert_eq!(s.parked, 0, "{s:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backlog did not drain: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = projector.stripe_health();
    assert!(health.available, "{health:?}");
    assert_eq!(health.message(), "Stripe available");
    assert_eq!(health.trips, 1, "{health:?}");
    shutdown.cancel();
    daemon.await.unwrap();
    env.assert_stripe_matches_ledger().await;
    env.assert_conformance();
}
