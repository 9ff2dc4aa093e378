//! Two daemons over one database (PostgreSQL): leases keep every invoice
//! to one publisher at a time; Stripe ends with exactly the ledger's invoices.

mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use stripe_fake::FakeConfig;
use sync::status::StatusFilter;
use sync_support::{env, options, Backend};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn two_daemons_at_once_on_postgres_publish_every_invoice_exactly_once() {
    two_daemons(Backend::Postgres).await;
}

#[tokio::test]
async fn two_daemons_at_once_on_sqlite_publish_every_invoice_exactly_once() {
    two_daemons(Backend::Sqlite).await;
}

async fn two_daemons(backend: Backend) {
    let env = env(backend, FakeConfig::default()).await;
    env.seed_closed("org", 40, 6).await;
    let shutdown = CancellationToken::new();
    let mut daemons = Vec::new();
    for _ in 0..2 {
        let mut opts = options();
        opts.workers = 3;
        let projector = Arc::new(env.projector(opts));
        daemons.push(tokio::spawn(sync::daemon::run(projector, shutdown.clone())));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let s = sync::status::summary(&env.db.db).await.unwrap();
        if s.invoices > 0 && s.final_pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not drained: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    for d in daemons {
        d.await.unwrap();
    }
    env.assert_stripe_matches_ledger().await;
    let rows = sync::status::list_sync_status(
        &env.db.db,
        &StatusFilter {
            limit: Some(1000),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rows.iter().filter(|r| r.terminal_done).count(), 40);
    let creates = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/invoices")
        .count();
    assert_eq!(creates, 40, "one invoice create per invoice");
    env.assert_conformance();
}
