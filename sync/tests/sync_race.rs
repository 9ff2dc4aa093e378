//! Two daemons racing over one database with 2 s leases, calls slower than the lease,
//! `Retry-After` pauses longer than it, invoices changing while they publish, and one
//! daemon dying mid-call (its leases lapse and are taken over): Stripe ends with no
//! duplicate, no cent off, and reconcile finds nothing. On both backends.

mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId, StreamId};
use stripe_fake::{FakeConfig, Fault};
use sync_support::{client, env, options, Backend, Env};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn racing_daemons_with_lapsing_leases_on_postgres_leave_no_duplicate_and_no_cent_off() {
    race(Backend::Postgres).await;
}

#[tokio::test]
async fn racing_daemons_with_lapsing_leases_on_sqlite_leave_no_duplicate_and_no_cent_off() {
    race(Backend::Sqlite).await;
}

const ORGS: usize = 10;

async fn add_usage(env: &Env, org: usize, quantity: u32, at: chrono::DateTime<Utc>) {
    let org = OrgId::new(format!("race-{org}")).unwrap();
    let used = LedgerEvent::UsageRecorded(ledger::event::UsageRecorded {
        org_id: org.clone(),
        meter: "egress_gb".into(),
        quantity: quantity.to_string().parse().unwrap(),
        window: None,
        source: "race".into(),
        attributes: Default::default(),
    });
    env.db
        .store()
        .append(
            &StreamId::usage(&org),
            ExpectedVersion::Any,
            vec![NewEvent::from_domain(&used, at).unwrap()],
        )
        .await
        .unwrap();
}

fn daemon(env: &Env, shutdown: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let mut opts = options();
    opts.workers = 3;
    opts.lease = Duration::from_secs(2);
    // Drafts are republished as soon as they change, so versions move under the race.
    opts.draft_cadence = Duration::from_millis(1);
    let projector = Arc::new(env.projector(opts));
    tokio::spawn(sync::daemon::run(projector, shutdown.clone()))
}

async fn race(backend: Backend) {
    let mut env = env(backend, FakeConfig::default()).await;
    env.api = client(&env.fake, Duration::from_secs(6));
    let now = Utc::now();
    let anchor = now - chrono::Duration::days(2);
    testkit::seed::seed(env.db.store().as_ref(), "race", ORGS, 6, anchor)
        .await
        .unwrap();
    let runner = projections::projector_for(&env.db.db);
    runner.catch_up().await.unwrap();
    for fault in [
        // Slower than the whole lease: only renewal during the call keeps it.
        Fault::latency(Duration::from_millis(2_600))
            .on("POST", "/v1/invoiceitems")
            .times(4),
        Fault::latency(Duration::from_millis(500))
            .on("POST", "/v1/invoiceitems")
            .times(30),
        Fault::latency(Duration::from_millis(1_500))
            .on("POST", "/v1/invoices/*/finalize")
            .times(4),
        Fault::latency(Duration::from_millis(700))
            .on("POST", "/v1/invoices")
            .times(6),
        // Longer than the lease: the worker must give the invoice back, not sleep on it.
        Fault::rate_limit(Duration::from_secs(3))
            .on("POST", "/v1/invoices")
            .times(1),
        Fault::rate_limit(Duration::from_secs(3))
            .on("POST", "/v1/invoiceitems")
            .times(2),
    ] {
        env.fake.inject(fault);
    }

    let shutdown = CancellationToken::new();
    let first = daemon(&env, &shutdown);
    let second = daemon(&env, &shutdown);
    // Invoices keep changing while the daemons publish them.
    for round in 0..30u32 {
        add_usage(
            &env,
            (round as usize * 3) % ORGS,
            round + 1,
            anchor + chrono::Duration::hours(3),
        )
        .await;
        runner.catch_up().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if round == 12 {
            // One daemon dies mid-call: no shutdown, no lease released.
            first.abort();
        }
    }
    let third = daemon(&env, &shutdown);
    sync_support::project_and_close(&env.db.db, now + chrono::Duration::days(40)).await;

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = sync::status::summary(&env.db.db).await.unwrap();
        if s.final_pending == 0 && s.retrying == 0 && s.drafts_behind == 0 {
            assert_eq!(s.parked, 0, "{s:?}");
            break;
        }
        assert!(Instant::now() < deadline, "not drained: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    assert!(first.await.unwrap_err().is_cancelled());
    second.await.unwrap();
    third.await.unwrap();

    env.assert_stripe_matches_ledger().await;
    let report = env.reconcile().await;
    assert!(report.stripe_invoices >= ORGS, "{report:?}");
    let creates = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/invoices" && r.status == Some(200))
        .count();
    assert!(creates >= ORGS, "{creates}");
    env.assert_conformance();
}
