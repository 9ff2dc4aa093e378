//! `billing stripe-fake`: run the in-memory Stripe fake alone, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use stripe_fake::FakeConfig;

/// Options of `billing stripe-fake`.
#[derive(Debug, clap::Args)]
pub struct StripeFakeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "STRIPE_FAKE_BIND", default_value = "127.0.0.1:12111")]
    bind: SocketAddr,

    /// How long idempotency keys and their stored responses live, in seconds
    /// (Stripe: 24 hours).
    #[arg(
        long,
        env = "STRIPE_FAKE_IDEMPOTENCY_WINDOW_SECS",
        default_value_t = 86_400
    )]
    idempotency_window_secs: u64,

    /// How long after a change an invoice becomes visible to search, in milliseconds.
    #[arg(long, env = "STRIPE_FAKE_SEARCH_DELAY_MS", default_value_t = 1_000)]
    search_delay_ms: u64,

    /// Most invoice items on one invoice (Stripe: 250).
    #[arg(long, env = "STRIPE_FAKE_MAX_ITEMS_PER_INVOICE", default_value_t = 250)]
    max_items_per_invoice: usize,
}

impl StripeFakeArgs {
    fn config(&self) -> FakeConfig {
        FakeConfig {
            idempotency_window: Duration::from_secs(self.idempotency_window_secs),
            search_index_delay: Duration::from_millis(self.search_delay_ms),
            max_items_per_invoice: self.max_items_per_invoice,
            ..FakeConfig::default()
        }
    }
}

/// Serves the fake until Ctrl-C or SIGTERM, then shuts it down gracefully.
pub async fn run(args: StripeFakeArgs) -> anyhow::Result<()> {
    let shutdown = crate::shutdown::on_signals()?;
    let fake = stripe_fake::spawn(args.bind, args.config())
        .await
        .context("starting the Stripe fake")?;
    let base = fake.base_url();
    println!("Stripe fake listening on {base}");
    println!("Point billing at it with:");
    println!("  STRIPE_API_BASE={base} STRIPE_API_KEY=sk_test_anything");
    println!("Control endpoints: {base}/__fake/faults, /__fake/requests, /__fake/conformance, /__fake/reset");
    println!("Press Ctrl-C to stop.");
    shutdown.cancelled().await;
    tracing::info!("stopping the Stripe fake");
    fake.shutdown().await;
    Ok(())
}
