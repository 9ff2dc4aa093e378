//! SIGKILL the sync daemon (`billing sync`, the real binary) at random
//! points, over and over, while it publishes 200+ invoices; restart it
//! each time. At the end
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
        .env("STRIPE_REQUEST_TIMEOUT_SECS", "5")
        .env("SYNC_RATE_LIMIT", "40")
        .env("SYNC_WORKERS", "4")
        .env("SYNC_LEASE_SECS", "1")
        .env("SYNC_POLL_MS", "50")
        .env("SYNC_BACKOFF_BASE_MS", "20")
        .env("SYNC_BACKOFF_CAP_SECS", "0.5")
        .env("SYNC_DRAFT_CADENCE_SECS", "0")
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

async fn final_pending(env: &Env) -> i64 {
    let s = sync::status::summary(&env.db.db).await.expect("summary");
    s.final_pending + s.retrying
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
    env.seed_closed("org", INVOICES, 4).await;

    // SIGINT mid-publish: the daemon stops cleanly (exit 0) with progress saved.
    let mut child = daemon(&env);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        final_pending(&env).await > 0,
        "SIGINT should hit a publishing daemon"
    );
    signal(&child, "-INT");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops on SIGINT")
        .unwrap();
    assert!(status.success(), "exit status {status}");

    // SIGKILL at random points while there is still work to publish.
    let mut kills_while_publishing = 0;
    for _ in 0..2 * KILLS {
        let mut child = daemon(&env);
        let wait = rand::rng().random_range(150..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let publishing = final_pending(&env).await > 0;
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reaped");
        if publishing {
            kills_while_publishing += 1;
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
        if s.invoices > 0 && s.final_pending == 0 && s.retrying == 0 {
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

    let (invoices, _) = env.stripe_counts().await;
    assert_eq!(invoices.len(), INVOICES);
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
