//! SIGKILL the sync daemon (`billing sync`, the real binary) at random
//! points, over and over, while it publishes 200+ invoices; restart it
//! each time. The daemon's own pipeline folds the usage and closes the
//! periods while it is being killed, and ten invoices are voided in the
//! ledger mid-way. At the end
//! Stripe holds exactly the ledger's invoices: no duplicate invoice or item,
//! totals equal to the cent. Run once with Stripe's idempotency window cut
//! to a millisecond, so recovery must come from metadata, not key replays.

// The sync crate's test support (Stripe fake, seeding, Stripe-side checks).
#[path = "../../sync/tests/sync_support/mod.rs"]
mod sync_support;

use std::process::Stdio;
use std::time::Duration;

use rand::Rng;
use stripe_fake::FakeConfig;
use sync_support::{env, Backend, Env};
use tokio::process::{Child, Command};

const INVOICES: usize = 210;
const KILLS: usize = 22;

fn daemon(env: &Env) -> Child {
    Command::new(env!("CARGO_BIN_EXE_billing"))
        .arg("sync")
        .env("DATABASE_URL", &env.db.url)
        .env("STRIPE_API_BASE", env.fake.base_url())
        .env("STRIPE_API_KEY", "sk_test_kill")
        // On PostgreSQL every writing process needs the webhook secret key.
        .env(
            "WEBHOOK_SECRET_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .env("STRIPE_REQUEST_TIMEOUT_SECS", "5")
        .env("SYNC_RATE_LIMIT", "40")
        .env("SYNC_WORKERS", "4")
        .env("SYNC_LEASE_SECS", "1")
        .env("SYNC_POLL_MS", "50")
        .env("SYNC_BACKOFF_BASE_MS", "20")
        .env("SYNC_BACKOFF_CAP_SECS", "0.5")
        .env("SYNC_DRAFT_CADENCE_SECS", "0")
        .env("BILLING_CLOSE_INTERVAL_SECS", "1")
        .env("BILLING_CLOSE_GRACE_MINUTES", "0")
        .env("BILLING_PROJECTION_POLL_MS", "20")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("billing sync starts")
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {sig} {pid}");
}

/// Invoices not yet finished in Stripe (finalized, or voided), closed or not.
async fn remaining(env: &Env) -> usize {
    let filter = sync::status::StatusFilter {
        limit: Some(1_000),
        ..Default::default()
    };
    let done = sync::status::list_sync_status(&env.db.db, &filter)
        .await
        .expect("status")
        .iter()
        .filter(|r| r.terminal_done)
        .count();
    INVOICES - done
}

async fn final_pending(env: &Env) -> i64 {
    let s = sync::status::summary(&env.db.db).await.expect("summary");
    s.final_pending + s.retrying
}

/// Void ten invoices in the ledger (whatever the sync has done with them).
async fn void_some(env: &Env, anchor: chrono::DateTime<chrono::Utc>) {
    use ledger::event::{InvoiceKey, InvoiceVoided};
    use ledger::{ExpectedVersion, LedgerEvent, NewEvent, OrgId};
    for n in 0..10 {
        let key = InvoiceKey {
            org_id: OrgId::new(format!("org-{n}")).unwrap(),
            period_start: anchor,
        };
        let voided = LedgerEvent::InvoiceVoided(InvoiceVoided {
            invoice: key.clone(),
            reason: "goodwill".into(),
        });
        env.db
            .store()
            .append(
                &key.stream(),
                ExpectedVersion::Any,
                vec![NewEvent::from_domain(&voided, chrono::Utc::now())
                    .unwrap()
                    .with_idempotency_key(format!("kill-void-{n}"))],
            )
            .await
            .unwrap();
    }
}

async fn survives_repeated_kills(backend: Backend, window: Duration) {
    let env = env(
        backend,
        FakeConfig {
            idempotency_window: window,
            ..FakeConfig::default()
        },
    )
    .await;
    // Usage in a period that has ended; the daemon folds and closes it.
    let anchor = testkit::seed::past_anchor(chrono::Utc::now());
    testkit::seed::seed(env.db.store().as_ref(), "org", INVOICES, 4, anchor)
        .await
        .unwrap();

    // SIGINT mid-publish: the daemon stops cleanly (exit 0) with progress saved.
    let mut child = daemon(&env);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while final_pending(&env).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the daemon never closed a period"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&child, "-INT");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops on SIGINT")
        .unwrap();
    assert!(status.success(), "exit status {status}");

    // SIGKILL at random points while there is still work to do.
    let mut kills_while_publishing = 0;
    for _ in 0..2 * KILLS {
        let mut child = daemon(&env);
        let wait = rand::rng().random_range(150..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let publishing = remaining(&env).await > 0;
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reaped");
        if publishing {
            kills_while_publishing += 1;
        }
        if kills_while_publishing == 5 {
            void_some(&env, anchor).await;
        }
        if kills_while_publishing >= KILLS || !publishing {
            break;
        }
    }
    assert!(
        kills_while_publishing >= 20,
        "only {kills_while_publishing} kills hit a publishing daemon"
    );

    let mut child = daemon(&env);
    // Earlier daemons may have drained everything already, so the loop
    // below can finish at once: give the new process its start-up (runtime
    // and signal handlers) before the SIGTERM that follows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let s = sync::status::summary(&env.db.db).await.unwrap();
        if remaining(&env).await == 0 && s.final_pending == 0 && s.retrying == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not drained: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&child, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");

    let rows = sync::status::list_sync_status(
        &env.db.db,
        &sync::status::StatusFilter {
            limit: Some(1_000),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The closed periods (each close also opened the next, still open, period).
    let closed: Vec<_> = rows
        .iter()
        .filter(|r| r.period().unwrap() == anchor)
        .collect();
    assert_eq!(closed.len(), INVOICES);
    assert!(closed.iter().all(|r| r.terminal_done), "{closed:#?}");
    let voided: Vec<_> = closed
        .iter()
        .filter(|r| r.ledger_status == "void")
        .collect();
    assert_eq!(voided.len(), 10, "the ten voids reached the sync");
    // A voided invoice Stripe never saw stays out of Stripe; one it had is voided there.
    let never_published = voided
        .iter()
        .filter(|r| r.stripe_invoice_id.is_none())
        .count();
    let (invoices, _) = env.stripe_counts().await;
    assert_eq!(invoices.len(), INVOICES - never_published);
    env.assert_stripe_matches_ledger().await;
    env.assert_conformance();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_on_sqlite_with_a_one_millisecond_idempotency_window_stripe_holds_exactly_the_ledger(
) {
    survives_repeated_kills(Backend::Sqlite, Duration::from_millis(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_on_postgres_stripe_holds_exactly_the_ledger() {
    survives_repeated_kills(Backend::Postgres, Duration::from_secs(86_400)).await;
}
